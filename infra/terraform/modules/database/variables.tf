variable "name" {
  description = "Prefix of every resource name; starts with the environment (e.g. dev-streamstack)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group (two AZs or more)."
  type        = list(string)
}

variable "allowed_security_groups" {
  description = "Security groups allowed to connect on 5432, by a static label (e.g. tasks, handlers)."
  type        = map(string)
}

variable "engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage_gb" {
  description = "Initial storage in GB."
  type        = number
  default     = 20
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GB."
  type        = number
  default     = 200
}

variable "database_name" {
  description = "Name of the catalog database."
  type        = string
  default     = "streamstack"
}

variable "master_username" {
  description = "Master user name (the password is generated and kept in Secrets Manager by RDS)."
  type        = string
  default     = "streamstack"
}

variable "app_username" {
  description = "Login role of the app (api, worker, edge, Lambdas): no password, IAM auth tokens only; the migrate task creates it."
  type        = string
  default     = "streamstack_app"
}

variable "ca_bundle_path" {
  description = "Path of the RDS CA bundle inside the image (deploy/Dockerfile): libpq verifies the server against it."
  type        = string
  default     = "/etc/ssl/certs/rds-global-bundle.pem"
}

variable "multi_az" {
  description = "Standby in a second AZ (on in prod)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the instance from deletion and take a final snapshot (on in prod)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days automated backups are kept."
  type        = number
  default     = 7
}

variable "monitoring_interval_seconds" {
  description = "Enhanced monitoring interval (0 disables it)."
  type        = number
  default     = 60
}

variable "kms_key_arn" {
  description = "KMS key of the storage, the master secret and Performance Insights."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
