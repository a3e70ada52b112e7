variable "name" {
  description = "Prefix of every resource name; starts with the environment (e.g. dev-streamstack)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the load balancer and the tasks."
  type        = string
}

variable "vpc_cidr_block" {
  description = "CIDR of the VPC (the tasks reach PostgreSQL inside it)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the internet-facing Network Load Balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the ingest tasks."
  type        = list(string)
}

variable "cluster_name" {
  description = "ECS cluster the ingest service runs in."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of that cluster."
  type        = string
}

variable "container_image" {
  description = "The streamstack image (deploy/Dockerfile), run as `streamstack ingest`."
  type        = string
}

variable "execution_role_arn" {
  description = "Execution role shared with the other services (pulls the image); this module lets it write the ingest logs."
  type        = string
}

variable "execution_role_name" {
  description = "Name of that execution role."
  type        = string
}

variable "task_role_policy" {
  description = "IAM policy JSON of the ingest task role (iam.tf: the catalog, the secrets, writing assets/)."
  type        = string
}

variable "environment" {
  description = "STREAMSTACK_* environment shared with the other services; the ingest settings are added here."
  type        = map(string)
}

variable "task_size" {
  description = "Fargate CPU units and memory (MiB) of one task, sized for one live session of the live ladder (docs/capacity.md)."
  type = object({
    cpu    = number
    memory = number
  })
  default = { cpu = 4096, memory = 8192 }
}

variable "min_tasks" {
  description = "Ingest tasks kept running: the live sessions that can start without waiting for a task."
  type        = number
  default     = 1
}

variable "max_tasks" {
  description = "Most ingest tasks (concurrent live sessions); pre-scaling for scheduled streams raises the minimum within it."
  type        = number
  default     = 10
}

variable "srt_port" {
  description = "UDP port of the SRT front (STREAMSTACK_SRT_PORT); 0 opens none."
  type        = number
  default     = 8890
}

variable "publisher_cidrs" {
  description = "Address ranges publishers connect from (encoders, OBS, studios)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "deregistration_delay_seconds" {
  description = "How long a stopping task keeps its publishers' connections before ECS sends SIGTERM (NLB maximum 3600)."
  type        = number
  default     = 3600

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must be 0-3600 (the NLB's range)."
  }
}

variable "stop_timeout_seconds" {
  description = "Seconds between SIGTERM and SIGKILL (Fargate maximum 120); the ingest drains for 15 s less."
  type        = number
  default     = 120

  validation {
    condition     = var.stop_timeout_seconds >= 30 && var.stop_timeout_seconds <= 120
    error_message = "stop_timeout_seconds must be 30-120 (Fargate's maximum is 120)."
  }
}

variable "deletion_protection" {
  description = "Deletion protection of the load balancer."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the ingest log group, in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key of the log group."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
