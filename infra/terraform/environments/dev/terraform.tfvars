# What makes dev dev. Account-specific inputs (region, certificates, signing keys, hosts, alarm e-mails)
# and the image come from CI (docs/deploy.md); every other input keeps the root's default.
environment = "dev"

az_count               = 2
enable_nat_gateway     = true
one_nat_gateway_per_az = false

service_sizes = {
  api     = { cpu = 256, memory = 512, desired_count = 1, min_capacity = 1, max_capacity = 2 }
  worker  = { cpu = 2048, memory = 4096, desired_count = 1, min_capacity = 1, max_capacity = 2 }
  edge    = { cpu = 256, memory = 512, desired_count = 1, min_capacity = 1, max_capacity = 2 }
  migrate = { cpu = 256, memory = 512, desired_count = 0, min_capacity = 0, max_capacity = 0 }
}

db_instance_class        = "db.t4g.medium" # the smallest class with Performance Insights
db_multi_az              = false
db_backup_retention_days = 1
deletion_protection      = false
log_retention_days       = 30
log_level                = "DEBUG"

# dev is torn down and rebuilt: deleted secrets go at once, so their names are free again.
secret_recovery_window_days = 0

# Announced live events: the api and edge services pre-scale 30 minutes before start_time.
# Add an entry in a pull request, remove it once the event is over (docs/deploy.md).
# live_events = [
#   { name = "cup-final", start_time = "2026-12-06T19:30:00Z", expected_viewers = 200000, duration_minutes = 180 },
# ]
live_events = []
