variable "region" {
  description = "Region of the state bucket."
  type        = string
}

variable "name" {
  description = "Prefix of the state bucket and CI roles (e.g. streamstack, or prod-streamstack with one account per environment)."
  type        = string
  default     = "streamstack"
}

variable "project" {
  description = "Project name of the stack (the root's `project`): deploy roles manage only IAM roles named <environment>-<project>-*."
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
  description = "Managed policies of the deploy roles besides their scoped IAM policy (bootstrap grants IAM only on the stack's own roles): PowerUserAccess by default, or a narrower policy of the account owner."
  type        = list(string)
  default     = ["arn:aws:iam::aws:policy/PowerUserAccess"]
}

variable "images_kept" {
  description = "Newest images kept in each repository (rollbacks and promotions reach back this far)."
  type        = number
  default     = 300
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
