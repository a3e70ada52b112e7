output "name" {
  description = "Prefix of every resource name."
  value       = local.name
}

output "app_environment" {
  description = "STREAMSTACK_* environment of every task and handler."
  value       = local.app_environment
}

output "alb_dns_name" {
  description = "Load balancer DNS name: point the API host and the edge origin host at it."
  value       = module.api_service.alb_dns_name
}

output "cluster_name" {
  description = "ECS cluster."
  value       = module.api_service.cluster_name
}

output "migrate_task_definition" {
  description = "Family of the one-off migration task (`streamstack db upgrade`)."
  value       = module.api_service.migrate_task_definition_family
}

output "private_subnet_ids" {
  description = "Private subnets (for `aws ecs run-task`)."
  value       = module.network.private_subnet_ids
}

output "tasks_security_group_id" {
  description = "Security group of the tasks (for `aws ecs run-task`)."
  value       = module.api_service.tasks_security_group_id
}

output "cdn_domain_name" {
  description = "CloudFront domain name."
  value       = module.cdn.distribution_domain_name
}

output "public_edge_url" {
  description = "Base URL of playback."
  value       = module.cdn.public_edge_url
}

output "signing_key_pair_ids" {
  description = "CloudFront public key id (Key-Pair-Id) per signing key name."
  value       = module.cdn.public_key_ids
}

output "media_bucket_name" {
  description = "Private media bucket."
  value       = module.cdn.media_bucket_name
}

output "queue_names" {
  description = "SQS queues by role."
  value       = module.event_processor.queue_names
}

output "dlq_names" {
  description = "DLQs by role."
  value       = module.event_processor.dlq_names
}

output "idempotency_table_name" {
  description = "DynamoDB table of handler idempotency."
  value       = module.event_processor.idempotency_table_name
}

output "app_secret_arns" {
  description = "Secrets whose values are put out of band (playback signing key, webhook signing secret)."
  value       = { for k, s in aws_secretsmanager_secret.app : k => s.arn }
}

output "database_secret_arn" {
  description = "RDS-managed secret of the master user."
  value       = module.database.master_user_secret_arn
}

output "alarm_topic_arns" {
  description = "SNS topics of the alarms (regional and us-east-1 for CloudFront)."
  value       = [module.monitoring.alarm_topic_arn, module.monitoring.cloudfront_alarm_topic_arn]
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.monitoring.dashboard_name
}

output "service_task_definitions" {
  description = "Task definition ARN each ECS service runs after this apply, by service name (scripts/wait-stable.sh checks them)."
  value       = { for k, name in module.api_service.service_names : name => module.api_service.task_definition_arns[k] }
}

output "ingest_host" {
  description = "Host publishers push RTMP (and SRT) to: STREAMSTACK_PUBLIC_INGEST_HOST; null without live_ingest."
  value       = var.live_ingest ? coalesce(var.ingest_host, module.live_ingest[0].nlb_dns_name) : null
}

output "live_managed" {
  description = "live_encoder = medialive: the MediaLive channel role, the input security group and the MediaPackage v2 channel group the per-stream requests name; null otherwise."
  value = var.live_encoder == "medialive" ? {
    channel_role_arn        = module.live_managed[0].channel_role_arn
    input_security_group_id = module.live_managed[0].input_security_group_id
    channel_group_name      = module.live_managed[0].channel_group_name
    channel_group_egress    = module.live_managed[0].channel_group_egress_domain
  } : null
}
