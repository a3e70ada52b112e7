output "alarm_topic_arn" {
  description = "SNS topic of the regional alarms."
  value       = module.alarms.topic_arn
}

output "cloudfront_alarm_topic_arn" {
  description = "SNS topic of the CloudFront alarms (us-east-1)."
  value       = module.cloudfront_alarms.topic_arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Names of every alarm this module creates."
  value       = concat(module.alarms.alarm_names, module.cloudfront_alarms.alarm_names)
}
