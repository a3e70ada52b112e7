output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_names" {
  description = "ECS service name per running service (api, worker, edge)."
  value       = { for k, s in aws_ecs_service.this : k => s.name }
}

output "task_definition_arns" {
  description = "Task definition ARN per entry point (api, worker, edge, migrate)."
  value       = { for k, t in aws_ecs_task_definition.this : k => t.arn }
}

output "migrate_task_definition_family" {
  description = "Family of the one-off `streamstack db upgrade` task."
  value       = aws_ecs_task_definition.this["migrate"].family
}

output "task_role_arns" {
  description = "Task role ARN per entry point."
  value       = { for k, r in aws_iam_role.task : k => r.arn }
}

output "execution_role_arn" {
  description = "ARN of the task execution role."
  value       = aws_iam_role.execution.arn
}

output "tasks_security_group_id" {
  description = "Security group of the tasks (allowed into RDS)."
  value       = aws_security_group.tasks.id
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (point the API host and edge_origin_host at it)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Route 53 zone id of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (the LoadBalancer dimension in AWS/ApplicationELB)."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffixes" {
  description = "ARN suffix per target group (the TargetGroup dimension in AWS/ApplicationELB)."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.arn_suffix }
}

output "private_subnet_ids" {
  description = "Subnets the tasks run in (for `aws ecs run-task` of the migrate task)."
  value       = var.private_subnet_ids
}

output "execution_role_name" {
  description = "Name of the execution role (other modules' services add their log groups to it)."
  value       = aws_iam_role.execution.name
}
