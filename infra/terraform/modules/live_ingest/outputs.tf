output "nlb_dns_name" {
  description = "DNS name of the ingest load balancer (STREAMSTACK_PUBLIC_INGEST_HOST unless a CNAME of it is used)."
  value       = aws_lb.ingest.dns_name
}

output "service_name" {
  description = "ECS service of the ingest tasks."
  value       = aws_ecs_service.ingest.name
}

output "scaling_resource_id" {
  description = "Application Auto Scaling resource id of the ingest service (pre-scaled for scheduled streams)."
  value       = aws_appautoscaling_target.ingest.resource_id
}

output "security_group_id" {
  description = "Security group of the ingest tasks (the database admits it)."
  value       = aws_security_group.tasks.id
}

output "task_role_arn" {
  description = "Role of the ingest tasks."
  value       = aws_iam_role.task.arn
}

output "task_definition_arn" {
  description = "Task definition the ingest service runs."
  value       = aws_ecs_task_definition.ingest.arn
}
