output "distribution_id" {
  description = "ID of the CloudFront distribution (the DistributionId dimension in AWS/CloudFront)."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "ARN of the CloudFront distribution."
  value       = aws_cloudfront_distribution.this.arn
}

output "distribution_domain_name" {
  description = "*.cloudfront.net domain of the distribution."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "public_edge_url" {
  description = "Base URL players use (STREAMSTACK_PUBLIC_EDGE_URL)."
  value       = "https://${length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.this.domain_name}"
}

output "media_bucket_name" {
  description = "Name of the private media bucket (STREAMSTACK_S3_BUCKET)."
  value       = module.media_bucket.id
}

output "media_bucket_arn" {
  description = "ARN of the private media bucket."
  value       = module.media_bucket.arn
}

output "logs_bucket_name" {
  description = "Bucket of CloudFront and S3 access logs."
  value       = module.logs_bucket.id
}

output "key_group_id" {
  description = "ID of the trusted key group."
  value       = aws_cloudfront_key_group.signing.id
}

output "public_key_ids" {
  description = "CloudFront public key id per key name: the Key-Pair-Id the app signs with."
  value       = { for k, v in aws_cloudfront_public_key.signing : k => v.id }
}

output "waf_web_acl_arn" {
  description = "ARN of the CloudFront WAF web ACL (us-east-1)."
  value       = module.waf.arn
}
