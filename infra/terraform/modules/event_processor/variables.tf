variable "name" {
  description = "Prefix of every resource name; starts with the environment (e.g. dev-streamstack)."
  type        = string
}

variable "media_bucket_name" {
  description = "Bucket whose ObjectCreated events under sources/ start encodes."
  type        = string
}

variable "media_bucket_arn" {
  description = "ARN of the media bucket (allowed to send to the sources queue)."
  type        = string
}

variable "max_receive_count" {
  description = "Receives of a message before SQS moves it to the queue's DLQ."
  type        = number
  default     = 5
}

variable "encode_visibility_timeout_seconds" {
  description = "Visibility timeout of the encode queue consumed by the ECS ffmpeg workers (STREAMSTACK_QUEUE_VISIBILITY_TIMEOUT)."
  type        = number
  default     = 60
}

variable "lambda_package" {
  description = "Lambda code: type Image with image_uri (the image's Lambda variant), or Zip with s3_bucket and s3_key."
  type = object({
    type      = string
    image_uri = optional(string)
    s3_bucket = optional(string)
    s3_key    = optional(string)
  })

  validation {
    condition = (
      (var.lambda_package.type == "Image" && var.lambda_package.image_uri != null) ||
      (var.lambda_package.type == "Zip" && var.lambda_package.s3_bucket != null && var.lambda_package.s3_key != null)
    )
    error_message = "lambda_package needs type Image with image_uri, or type Zip with s3_bucket and s3_key."
  }
}

variable "lambda_timeout_seconds" {
  description = "Timeout of each handler function."
  type        = number
  default     = 60
}

variable "visibility_timeout_multiplier" {
  description = "Visibility timeout of a Lambda-fed queue as a multiple of the function timeout (AWS advises at least 6)."
  type        = number
  default     = 6

  validation {
    condition     = var.visibility_timeout_multiplier >= 6
    error_message = "visibility_timeout_multiplier must be at least 6."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of each handler function."
  type        = number
  default     = 512
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of each handler; null reserves none (new accounts cannot reserve any: their quota may be 10, all kept unreserved). maximum_concurrency caps the SQS-driven concurrency either way."
  type        = number
  default     = null
}

variable "maximum_concurrency" {
  description = "Most concurrent invocations the SQS event source starts (2..reserved_concurrency)."
  type        = number
  default     = 5

  validation {
    condition     = var.maximum_concurrency >= 2
    error_message = "SQS maximum_concurrency must be at least 2."
  }
}

variable "batch_size" {
  description = "Records per invocation."
  type        = number
  default     = 10
}

variable "maximum_batching_window_seconds" {
  description = "Seconds the event source waits to fill a batch."
  type        = number
  default     = 1
}

variable "environment" {
  description = "STREAMSTACK_* environment variables of both handlers (names must be Settings fields)."
  type        = map(string)
  default     = {}
}

variable "handler_policies" {
  description = "Inline IAM policy JSON per handler (on_source_uploaded, on_encoding_event) for the app's own calls; built from docs/aws-permissions.md."
  type        = map(string)
  default     = {}
}

variable "subnet_ids" {
  description = "Private subnets of the functions (they reach RDS)."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC of the functions."
  type        = string
}

variable "vpc_cidr_block" {
  description = "CIDR of the VPC (functions reach RDS inside it)."
  type        = string
}

variable "idempotency_deletion_protection" {
  description = "Protect the idempotency table from deletion."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the function log groups, in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key of the log groups, the function environment and the idempotency table."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "managed_live_channel_group" {
  description = "live_encoder = medialive: the MediaPackage v2 channel group whose harvest notifications, and MediaLive's channel events, go to the events queue; null: none."
  type        = string
  default     = null
}
