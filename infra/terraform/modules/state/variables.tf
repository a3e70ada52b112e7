variable "name" {
  description = "Prefix of the state bucket (and lock table) name, e.g. prod-streamstack or streamstack when one bucket serves every environment."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days an overwritten state version is kept (the way back from a bad apply)."
  type        = number
  default     = 90
}

variable "create_lock_table" {
  description = "Create a DynamoDB lock table for Terraform older than 1.10 (newer versions lock with use_lockfile = true in S3)."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Allow destroying the bucket while it holds state (only for throwaway accounts)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
