output "alarm_topic_arn" {
  description = "SNS topic of the regional alarms."
  value       = aws_sns_topic.alarms.arn
}

output "cloudfront_alarm_topic_arn" {
  description = "SNS topic of the CloudFront alarms (us-east-1)."
  value       = aws_sns_topic.alarms_us_east_1.arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Names of every alarm this module creates."
  value       = concat(module.alarms.alarm_names, module.cloudfront_alarms.alarm_names)
}
