output "bucket_name" {
  description = "State bucket: pass as -backend-config=\"bucket=...\"."
  value       = module.bucket.id
}

output "bucket_arn" {
  description = "ARN of the state bucket."
  value       = module.bucket.arn
}

output "kms_key_arn" {
  description = "KMS key of the state objects: pass as -backend-config=\"kms_key_id=...\"."
  value       = module.key.arn
}

output "lock_table_name" {
  description = "DynamoDB lock table (Terraform < 1.10 only); null when not created."
  value       = one(aws_dynamodb_table.lock[*].name)
}
