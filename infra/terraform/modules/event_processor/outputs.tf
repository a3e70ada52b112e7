output "queue_names" {
  description = "Queue name per role (sources, encode, events)."
  value       = { for k, q in aws_sqs_queue.this : k => q.name }
}

output "queue_arns" {
  description = "Queue ARN per role."
  value       = { for k, q in aws_sqs_queue.this : k => q.arn }
}

output "queue_urls" {
  description = "Queue URL per role."
  value       = { for k, q in aws_sqs_queue.this : k => q.id }
}

output "dlq_names" {
  description = "DLQ name per role."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.name }
}

output "dlq_arns" {
  description = "DLQ ARN per role."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.arn }
}

output "function_names" {
  description = "Lambda function name per handler."
  value       = { for k, f in aws_lambda_function.handler : k => f.function_name }
}

output "function_timeouts" {
  description = "Timeout in seconds per handler (alarms compare duration against it)."
  value       = { for k, f in aws_lambda_function.handler : k => f.timeout }
}

output "handler_role_arns" {
  description = "IAM role ARN per handler."
  value       = { for k, r in aws_iam_role.handler : k => r.arn }
}

output "security_group_id" {
  description = "Security group of the functions (allowed into RDS)."
  value       = aws_security_group.lambda.id
}

output "idempotency_table_name" {
  description = "DynamoDB table of the Powertools idempotency layer."
  value       = aws_dynamodb_table.idempotency.name
}

output "idempotency_table_arn" {
  description = "ARN of the idempotency table."
  value       = aws_dynamodb_table.idempotency.arn
}

output "mediaconvert_rule_arn" {
  description = "ARN of the EventBridge rule for MediaConvert job state changes."
  value       = aws_cloudwatch_event_rule.mediaconvert.arn
}

output "managed_live_rule_names" {
  description = "EventBridge rules sending MediaLive and MediaPackage v2 events to the events queue (empty without managed live)."
  value       = { for key, rule in aws_cloudwatch_event_rule.managed_live : key => rule.name }
}
