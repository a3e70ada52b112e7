output "address" {
  description = "Host name of the instance."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the instance."
  value       = aws_db_instance.this.port
}

output "database_name" {
  description = "Name of the catalog database."
  value       = aws_db_instance.this.db_name
}

output "master_username" {
  description = "Master user name."
  value       = aws_db_instance.this.username
}

output "database_url" {
  description = "postgresql:// URL of the master user without the password (the migrate task only; libpq takes the password from PGPASSWORD)."
  value       = "postgresql://${aws_db_instance.this.username}@${local.endpoint}?${local.tls}"
}

output "app_database_url" {
  description = "postgresql:// URL of the app user, no password (STREAMSTACK_DATABASE_IAM_AUTH: a fresh IAM token per connection)."
  value       = "postgresql://${var.app_username}@${local.endpoint}?${local.tls}"
}

output "app_username" {
  description = "Login role of the app, created by the migrate task (`streamstack db upgrade --app-user`)."
  value       = var.app_username
}

output "app_user_arn" {
  description = "rds-db:connect resource of the app user (arn:...:dbuser:<resource id>/<app user>)."
  value       = "arn:${data.aws_partition.current.partition}:rds-db:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:dbuser:${aws_db_instance.this.resource_id}/${var.app_username}"
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret (JSON username/password) that RDS manages and rotates."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "instance_identifier" {
  description = "RDS instance identifier (the DBInstanceIdentifier dimension)."
  value       = aws_db_instance.this.identifier
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.this.id
}
