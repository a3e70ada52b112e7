# What makes prod prod. Account-specific inputs (region, certificates, signing keys, hosts, alarm e-mails)
# and the image come from CI (docs/deploy.md); every other input keeps the root's default.
environment = "prod"

az_count               = 3
enable_nat_gateway     = true
one_nat_gateway_per_az = true

service_sizes = {
  api     = { cpu = 1024, memory = 2048, desired_count = 3, min_capacity = 3, max_capacity = 30 }
  worker  = { cpu = 4096, memory = 8192, desired_count = 2, min_capacity = 2, max_capacity = 20 }
  edge    = { cpu = 1024, memory = 2048, desired_count = 3, min_capacity = 3, max_capacity = 60 }
  migrate = { cpu = 256, memory = 512, desired_count = 0, min_capacity = 0, max_capacity = 0 }
}

db_instance_class        = "db.m7g.large"
db_multi_az              = true
db_backup_retention_days = 14
deletion_protection      = true
log_retention_days       = 365
log_level                = "INFO"

# Announced live events: the api and edge services pre-scale 30 minutes before start_time.
# Add an entry in a pull request, remove it once the event is over (docs/deploy.md).
# live_events = [
#   { name = "cup-final", start_time = "2026-12-06T19:30:00Z", expected_viewers = 200000, duration_minutes = 180 },
# ]
live_events = []
