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
  value = concat(
    [
      aws_cloudwatch_metric_alarm.alb_5xx_count.alarm_name,
      aws_cloudwatch_metric_alarm.alb_5xx_rate.alarm_name,
      aws_cloudwatch_metric_alarm.alb_p99.alarm_name,
      aws_cloudwatch_metric_alarm.cloudfront_5xx_rate.alarm_name,
      aws_cloudwatch_metric_alarm.cloudfront_cache_hit_rate.alarm_name,
      aws_cloudwatch_metric_alarm.encoding_failures.alarm_name,
    ],
    [for a in aws_cloudwatch_metric_alarm.dlq_not_empty : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.oldest_message_age : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda_errors : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda_duration_p99 : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda_throttles : a.alarm_name],
    aws_cloudwatch_metric_alarm.worker_heartbeat[*].alarm_name,
  )
}
