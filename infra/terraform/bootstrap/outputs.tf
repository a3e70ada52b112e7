output "state_bucket" {
  description = "Bucket for -backend-config=\"bucket=...\"."
  value       = module.state.bucket_name
}

output "state_kms_key_arn" {
  description = "Key for -backend-config=\"kms_key_id=...\"."
  value       = module.state.kms_key_arn
}

output "plan_role_arn" {
  description = "Role of pull-request plans (GitHub variable AWS_PLAN_ROLE_ARN)."
  value       = aws_iam_role.plan.arn
}

output "deploy_role_arns" {
  description = "Deploy role per environment (GitHub environment variable AWS_DEPLOY_ROLE_ARN)."
  value       = { for k, r in aws_iam_role.deploy : k => r.arn }
}

output "image_repository_urls" {
  description = "ECR repository URL of the service image and of its Lambda variant (GitHub variables ECR_SERVICE_REPOSITORY_URL, ECR_LAMBDA_REPOSITORY_URL)."
  value       = { for k, r in aws_ecr_repository.image : k => r.repository_url }
}

output "image_role_arn" {
  description = "Role that pushes the images of main (GitHub variable AWS_IMAGE_ROLE_ARN)."
  value       = aws_iam_role.image.arn
}
