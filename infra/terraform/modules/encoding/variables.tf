variable "name" {
  description = "Prefix of every resource name; starts with the environment (e.g. dev-streamstack)."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster of the worker service."
  type        = string
}

variable "worker_service_name" {
  description = "ECS service of the ffmpeg workers."
  type        = string
}

variable "encode_queue_name" {
  description = "Queue the workers consume (its backlog drives scaling)."
  type        = string
}

variable "min_workers" {
  description = "Fewest worker tasks (0 lets an idle environment cost nothing; the first job then waits for a task to start)."
  type        = number
  default     = 1
}

variable "max_workers" {
  description = "Most worker tasks."
  type        = number
  default     = 10
}

variable "backlog_per_task" {
  description = "Visible encode messages per running worker task that scaling aims for (about STREAMSTACK_WORKER_CONCURRENCY)."
  type        = number
  default     = 1
}

variable "scale_in_cooldown_seconds" {
  description = "Seconds between scale-in steps (encodes run for minutes; a stopped worker returns its message to the queue)."
  type        = number
  default     = 600
}

variable "enable_mediaconvert" {
  description = "Create the role MediaConvert assumes (STREAMSTACK_ENCODER=mediaconvert); jobs go to the account's Default queue."
  type        = bool
  default     = false
}

variable "media_bucket_arn" {
  description = "Media bucket MediaConvert reads sources/ from and writes assets/ to."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
