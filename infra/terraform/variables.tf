variable "environment" {
  description = "Environment name; prefixes every resource name."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "region" {
  description = "AWS region of the environment (CloudFront's WAF, metrics and alarms go to us-east-1 regardless)."
  type        = string
}

variable "project" {
  description = "Project name, after the environment in resource names."
  type        = string
  default     = "streamstack"
}

variable "tags" {
  description = "Extra tags on every resource (Environment, Project and ManagedBy are always set)."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR of the VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "az_count" {
  description = "Availability zones used (2 or 3)."
  type        = number
  default     = 2
}

variable "enable_nat_gateway" {
  description = "NAT for private subnets (webhooks and URL imports reach the internet through it)."
  type        = bool
  default     = true
}

variable "one_nat_gateway_per_az" {
  description = "One NAT gateway per AZ instead of one shared."
  type        = bool
  default     = false
}

variable "container_image" {
  description = "Image of api, worker, edge and migrate (deploy/Dockerfile), pinned by tag or digest."
  type        = string
}

variable "lambda_package" {
  description = "Code of the Lambda handlers: type Image with image_uri, or Zip with s3_bucket and s3_key."
  type = object({
    type      = string
    image_uri = optional(string)
    s3_bucket = optional(string)
    s3_key    = optional(string)
  })
}

variable "api_certificate_arn" {
  description = "Regional ACM certificate of the load balancer (API host and edge origin host)."
  type        = string
}

variable "public_api_url" {
  description = "Base URL clients use for the API (https://api.example.com); null: the app's default."
  type        = string
  default     = null
}

variable "edge_enabled" {
  description = "Run the edge service for playback-id URLs."
  type        = bool
  default     = true
}

variable "edge_origin_host" {
  description = "DNS name that points at the load balancer and routes to the edge; CloudFront's default origin."
  type        = string
  default     = null
}

variable "cdn_aliases" {
  description = "Alternate domain names of the CloudFront distribution."
  type        = list(string)
  default     = []
}

variable "cdn_certificate_arn" {
  description = "ACM certificate in us-east-1 for cdn_aliases; null: the cloudfront.net certificate."
  type        = string
  default     = null
}

variable "signing_public_keys" {
  description = "PEM public keys trusted for signed playback, by key name (two during a rotation)."
  type        = map(string)
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to play from the CDN and upload parts to the bucket."
  type        = list(string)
  default     = ["*"]
}

variable "service_sizes" {
  description = "Fargate size and capacity bounds of api, worker, edge and migrate."
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
}

variable "live_events" {
  description = "Announced live events to pre-scale for: name, start_time (RFC 3339 UTC), expected_viewers, duration_minutes."
  type = list(object({
    name             = string
    start_time       = string
    expected_viewers = number
    duration_minutes = number
  }))
  default = []
}

variable "encoder" {
  description = "Encoding backend: ffmpeg (ECS workers) or mediaconvert."
  type        = string
  default     = "ffmpeg"

  validation {
    condition     = contains(["ffmpeg", "mediaconvert"], var.encoder)
    error_message = "encoder must be ffmpeg or mediaconvert."
  }
}

variable "worker_concurrency" {
  description = "Encode jobs one worker task runs at once (also the backlog per task that scaling aims for)."
  type        = number
  default     = 1
}

variable "max_receive_count" {
  description = "Receives before a message moves to its DLQ."
  type        = number
  default     = 5
}

variable "encode_visibility_timeout_seconds" {
  description = "Visibility timeout of the encode queue: longer than one encode takes between heartbeats of the worker."
  type        = number
  default     = 60
}

variable "lambda_timeout_seconds" {
  description = "Timeout of the Lambda handlers."
  type        = number
  default     = 60
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency of each Lambda handler; null reserves none. A new account's quota can be 10 concurrent executions, of which AWS keeps 10 unreserved: any reservation fails there. lambda_maximum_concurrency caps each function either way."
  type        = number
  default     = null
}

variable "lambda_maximum_concurrency" {
  description = "maximum_concurrency of each SQS event source."
  type        = number
  default     = 5
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_multi_az" {
  description = "RDS Multi-AZ standby."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Days RDS keeps automated backups."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Deletion protection of the load balancer, RDS (with final snapshot) and the idempotency table."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of every log group, in days."
  type        = number
  default     = 365
}

variable "security_log_retention_days" {
  description = "Retention of security logs (VPC flow logs, WAF logs, CDN access logs), in days; at least a year."
  type        = number
  default     = 365

  validation {
    condition     = var.security_log_retention_days >= 365
    error_message = "Security logs are kept at least 365 days."
  }
}

variable "anonymous_ip_action" {
  description = "What the CDN's WAF does with anonymizing IPs (VPNs, proxies, Tor, hosting providers): count to observe, block to enforce geo-rights."
  type        = string
  default     = "count"
}

variable "secret_recovery_window_days" {
  description = "Days a deleted app secret can be restored; 0 deletes at once, so a torn-down dev can be rebuilt under the same secret names."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or 7-30 (Secrets Manager's range)."
  }
}

variable "log_level" {
  description = "STREAMSTACK_LOG_LEVEL of every process."
  type        = string
  default     = "INFO"
}

variable "alarm_emails" {
  description = "E-mail addresses notified by the alarm topics."
  type        = list(string)
  default     = []
}

variable "live_ingest" {
  description = "Run the live ingest service (nginx-rtmp, ffmpeg and the packager of `streamstack ingest`) behind a Network Load Balancer."
  type        = bool
  default     = false
}

variable "live_ingest_sizes" {
  description = "Ingest tasks: Fargate size of one task (one live session of the live ladder) and the task bounds."
  type = object({
    cpu       = number
    memory    = number
    min_tasks = number
    max_tasks = number
  })
  default = { cpu = 4096, memory = 8192, min_tasks = 1, max_tasks = 10 }
}

variable "ingest_host" {
  description = "DNS name publishers use (a CNAME of the ingest load balancer); null: the load balancer's own DNS name."
  type        = string
  default     = null
}

variable "srt_port" {
  description = "UDP port of SRT ingest on the load balancer (the app's STREAMSTACK_SRT_PORT); 0 opens none."
  type        = number
  default     = 8890
}

variable "publisher_cidrs" {
  description = "Address ranges publishers reach the ingest from."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "live_encoder" {
  description = "Live encoding backend: ffmpeg (the ingest service, live_ingest) or medialive (MediaLive + MediaPackage v2, module live_managed)."
  type        = string
  default     = "ffmpeg"

  validation {
    condition     = contains(["ffmpeg", "medialive"], var.live_encoder)
    error_message = "live_encoder must be ffmpeg or medialive."
  }
}
