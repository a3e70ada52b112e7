output "app_environment" {
  description = "STREAMSTACK_* environment of every task and handler."
  value       = module.streamstack.app_environment
}

output "alb_dns_name" {
  description = "Load balancer DNS name."
  value       = module.streamstack.alb_dns_name
}

output "cluster_name" {
  description = "ECS cluster."
  value       = module.streamstack.cluster_name
}

output "migrate_task_definition" {
  description = "Family of the migration task."
  value       = module.streamstack.migrate_task_definition
}

output "private_subnet_ids" {
  description = "Private subnets for run-task."
  value       = module.streamstack.private_subnet_ids
}

output "tasks_security_group_id" {
  description = "Security group for run-task."
  value       = module.streamstack.tasks_security_group_id
}

output "public_edge_url" {
  description = "Base URL of playback."
  value       = module.streamstack.public_edge_url
}

output "signing_key_pair_ids" {
  description = "Key-Pair-Id per signing key name."
  value       = module.streamstack.signing_key_pair_ids
}

output "app_secret_arns" {
  description = "Secrets to fill out of band."
  value       = module.streamstack.app_secret_arns
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.streamstack.dashboard_name
}
