variable "name" {
  description = "Prefix of every resource name; starts with the environment (e.g. dev-streamstack)."
  type        = string
}

variable "vpc_id" {
  description = "VPC the load balancer and tasks run in."
  type        = string
}

variable "vpc_cidr_block" {
  description = "CIDR of the VPC (egress of the load balancer to tasks, tasks to RDS)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the internet-facing load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the Fargate tasks."
  type        = list(string)
}

variable "container_image" {
  description = "The streamstack image (deploy/Dockerfile), e.g. <account>.dkr.ecr.<region>.amazonaws.com/streamstack:<git sha>."
  type        = string
}

variable "acm_certificate_arn" {
  description = "ACM certificate (in this region) of the HTTPS listener; must cover the API host and edge_origin_host."
  type        = string
}

variable "alb_ingress_cidrs" {
  description = "CIDRs allowed to reach the load balancer on 80/443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "alb_deletion_protection" {
  description = "Protect the load balancer from deletion (on in prod)."
  type        = bool
  default     = true
}

variable "edge_enabled" {
  description = "Run the edge service (playback by playback id behind CloudFront). Off: only the API and worker run."
  type        = bool
  default     = true
}

variable "edge_origin_host" {
  description = "Host name CloudFront uses to reach the edge through this load balancer (a DNS name pointing at it, covered by the certificate); the listener routes it to the edge."
  type        = string
  default     = null
}

variable "origin_verify_header" {
  description = "Header (name, value) CloudFront sends to the edge origin: the listener forwards the edge host only with it, and the WAF's per-IP rate rule leaves such requests to CloudFront's own WAF."
  type = object({
    name  = string
    value = string
  })
}

variable "edge_health_check_path" {
  description = "Health check path of the edge target group."
  type        = string
  default     = "/healthz"
}

variable "environment" {
  description = "STREAMSTACK_* environment variables given to every container (names must be Settings fields)."
  type        = map(string)
  default     = {}
}

variable "migrate_environment" {
  description = "Environment of the migrate task only, over var.environment (the master user's database URL)."
  type        = map(string)
  default     = {}
}

variable "migrate_secrets" {
  description = "Injected from Secrets Manager into the migrate task only, at its start: name => valueFrom (secret ARN, optionally with :json-key::)."
  type        = map(string)
  default     = {}
}

variable "migrate_arguments" {
  description = "Arguments after `streamstack db upgrade` in the migrate task (e.g. --app-user streamstack_app)."
  type        = list(string)
  default     = []
}

variable "execution_secret_arns" {
  description = "Secret ARNs (without json-key suffix) the execution role may read to inject var.migrate_secrets."
  type        = list(string)
  default     = []
}

variable "task_role_policies" {
  description = "Inline IAM policy JSON of each service's task role (keys: api, worker, edge, migrate); built from docs/aws-permissions.md."
  type        = map(string)
  default     = {}
}

variable "service_sizes" {
  description = "Fargate size and capacity bounds per service (api, worker, edge, migrate); capacity of the worker is driven by the encoding module."
  type = map(object({
    cpu           = number
    memory        = number
    desired_count = number
    min_capacity  = number
    max_capacity  = number
  }))
  default = {
    api     = { cpu = 512, memory = 1024, desired_count = 2, min_capacity = 2, max_capacity = 10 }
    worker  = { cpu = 2048, memory = 4096, desired_count = 1, min_capacity = 1, max_capacity = 10 }
    edge    = { cpu = 512, memory = 1024, desired_count = 2, min_capacity = 2, max_capacity = 20 }
    migrate = { cpu = 256, memory = 512, desired_count = 0, min_capacity = 0, max_capacity = 0 }
  }

  validation {
    condition     = alltrue([for k in ["api", "worker", "edge", "migrate"] : contains(keys(var.service_sizes), k)])
    error_message = "service_sizes must define api, worker, edge and migrate."
  }
}

variable "worker_on_demand_base" {
  description = "Worker tasks that always run on FARGATE (not Spot), so encoding continues through a Spot shortage."
  type        = number
  default     = 1
}

variable "worker_spot_weight" {
  description = "Weight of FARGATE_SPOT for workers beyond worker_on_demand_base (0: workers run on FARGATE only)."
  type        = number
  default     = 1
}

variable "worker_ephemeral_storage_gib" {
  description = "Fargate ephemeral storage of a worker task (source + renditions of one encode), 21-200 GiB."
  type        = number
  default     = 100
}

variable "scratch_path" {
  description = "Writable path mounted in every container (the root filesystem is read-only)."
  type        = string
  default     = "/tmp"
}

variable "requests_per_target" {
  description = "Target of ALBRequestCountPerTarget tracking for the api and edge services (requests per task per minute)."
  type        = number
  default     = 1000
}

variable "cpu_target_percent" {
  description = "Target of average CPU tracking for the api and edge services."
  type        = number
  default     = 60
}

variable "live_events" {
  description = "Announced live events: the api and edge services are pre-scaled lead_minutes before start_time (RFC 3339, UTC) for expected_viewers, and scaled back duration_minutes after it. Remove past events."
  type = list(object({
    name             = string
    start_time       = string
    expected_viewers = number
    duration_minutes = number
  }))
  default = []

  validation {
    condition     = alltrue([for e in var.live_events : can(timeadd(e.start_time, "0s")) && can(regex("^[a-z0-9-]+$", e.name))])
    error_message = "Each live event needs a lower-case name of [a-z0-9-] and an RFC 3339 start_time such as 2026-12-06T19:30:00Z."
  }
}

variable "live_event_lead_minutes" {
  description = "How long before kickoff the pre-scaled capacity is in place (Fargate tasks take minutes to start)."
  type        = number
  default     = 30
}

variable "viewers_per_api_task" {
  description = "Concurrent viewers one api task serves (playback tokens, player page) when sizing for a live event."
  type        = number
  default     = 5000
}

variable "viewers_per_edge_task" {
  description = "Concurrent viewers one edge task serves (playlist refreshes behind CloudFront) when sizing for a live event; streamstack.live.capacity derives it from the load test's measured figure (docs/capacity.md)."
  type        = number
  default     = 1379
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes from one client IP of the API (integrations, uploads, the console) before the load balancer's WAF blocks it; CloudFront's requests for the edge are exempt."
  type        = number
  default     = 2000
}

variable "log_retention_days" {
  description = "Retention of the container log groups, in days."
  type        = number
  default     = 365
}

variable "waf_log_retention_days" {
  description = "Retention of the WAF log group, in days."
  type        = number
  default     = 365
}

variable "alb_log_retention_days" {
  description = "Days before ALB access log objects expire."
  type        = number
  default     = 90
}

variable "kms_key_arn" {
  description = "KMS key of the log groups."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "extra_prescale_services" {
  description = "Services of other modules the api also pre-scales for scheduled live streams (e.g. ingest), as {name: {resource_id, min_tasks, max_tasks}}."
  type = map(object({
    resource_id = string
    min_tasks   = number
    max_tasks   = number
  }))
  default = {}
}
