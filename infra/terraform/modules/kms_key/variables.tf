variable "name" {
  description = "Alias of the key (alias/<name>), starting with the environment's prefix."
  type        = string
}

variable "description" {
  description = "What the key encrypts."
  type        = string
}

variable "log_group_pattern" {
  description = "Log group names (wildcards allowed) whose CloudWatch Logs encryption may use the key, in the provider's region; null: none."
  type        = string
  default     = null
}

variable "cloudwatch_alarms" {
  description = "Let CloudWatch alarms of this account publish to SNS topics encrypted with the key."
  type        = bool
  default     = false
}

variable "policy_documents" {
  description = "Further key policy JSON documents of the caller, merged with the account administration statement."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to the key."
  type        = map(string)
  default     = {}
}
