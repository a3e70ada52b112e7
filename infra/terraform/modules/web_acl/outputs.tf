output "arn" {
  description = "ARN of the web ACL (CloudFront web_acl_id, or the association's web_acl_arn)."
  value       = aws_wafv2_web_acl.this.arn
}

output "log_group_name" {
  description = "Log group of the WAF logs."
  value       = aws_cloudwatch_log_group.this.name
}
