variable "region" {
  description = "Region of the state bucket."
  type        = string
}

variable "name" {
  description = "Prefix of the state bucket and CI roles (e.g. streamstack, or prod-streamstack with one account per environment)."
  type        = string
  default     = "streamstack"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows assume the CI roles."
  type        = string
}

variable "environments" {
  description = "GitHub environments that get a deploy role (apply) of their own."
  type        = list(string)
  default     = ["dev", "staging", "prod"]
}

variable "deploy_policy_arns" {
  description = "Managed policies of the deploy roles: broad enough to create every resource of infra/terraform, chosen by the account owner."
  type        = list(string)
}

variable "create_lock_table" {
  description = "Also create a DynamoDB lock table (Terraform < 1.10 only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
