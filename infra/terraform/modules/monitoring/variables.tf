variable "name" {
  description = "Prefix of every resource name; starts with the environment (e.g. dev-streamstack)."
  type        = string
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topics (each must confirm the subscription)."
  type        = list(string)
  default     = []
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (LoadBalancer dimension)."
  type        = string
}

variable "distribution_id" {
  description = "CloudFront distribution id (DistributionId dimension; its metrics live in us-east-1)."
  type        = string
}

variable "queue_names" {
  description = "Queue name per role (sources, encode, events)."
  type        = map(string)
}

variable "dlq_names" {
  description = "DLQ name per role."
  type        = map(string)
}

variable "function_names" {
  description = "Lambda function name per handler."
  type        = map(string)
}

variable "function_timeouts" {
  description = "Timeout in seconds per handler (same keys as function_names)."
  type        = map(number)
}

variable "alb_5xx_count_threshold" {
  description = "ALB + target 5XX responses in 5 minutes that raise an alarm."
  type        = number
  default     = 50
}

variable "alb_5xx_rate_percent" {
  description = "Share of 5XX responses (percent of requests) in 5 minutes that raises an alarm."
  type        = number
  default     = 1
}

variable "alb_p99_seconds" {
  description = "Target response time p99 that raises an alarm."
  type        = number
  default     = 1.5
}

variable "cloudfront_5xx_rate_percent" {
  description = "CloudFront 5xxErrorRate (percent) that raises an alarm."
  type        = number
  default     = 1
}

variable "cloudfront_min_cache_hit_rate_percent" {
  description = "CloudFront CacheHitRate (percent) below which an alarm is raised."
  type        = number
  default     = 80
}

variable "oldest_message_age_seconds" {
  description = "Age of the oldest message per queue role that raises an alarm; roles not listed use 900."
  type        = map(number)
  default     = { sources = 300, encode = 1800, events = 300 }
}

variable "lambda_duration_p99_fraction" {
  description = "Duration p99 as a fraction of the function timeout that raises an alarm."
  type        = number
  default     = 0.8
}

variable "encoding_failures_threshold" {
  description = "Failed encoding jobs in 15 minutes (streamstack_encoding_jobs_total{state=failed}) that raise an alarm."
  type        = number
  default     = 3
}

variable "live_ingest_stall_seconds" {
  description = "Seconds a connected live publisher may send no video before the live-ingest-stalled alarm (as StreamstackLiveIngestStalled)."
  type        = number
  default     = 30
}

variable "live_transcoder_min_speed" {
  description = "Live encoder speed (media seconds per second) below which, for 2 minutes, the live-transcoder-behind alarm fires."
  type        = number
  default     = 0.95
}

variable "managed_live" {
  description = "live_encoder = medialive: add the MediaLive channels' own metrics to the dashboard."
  type        = bool
  default     = false
}

variable "worker_heartbeat_alarm" {
  description = "Alarm when no worker reports streamstack_worker_heartbeat_timestamp_seconds for 10 minutes (off when workers scale to zero)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key (this region) of the alarm topic; its policy must let CloudWatch use it."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
