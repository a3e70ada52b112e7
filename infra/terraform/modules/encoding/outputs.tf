output "worker_scaling_resource_id" {
  description = "Application Auto Scaling resource id of the worker service."
  value       = aws_appautoscaling_target.worker.resource_id
}

output "mediaconvert_role_arn" {
  description = "Role MediaConvert assumes (STREAMSTACK_MEDIACONVERT_ROLE_ARN); null when disabled."
  value       = one(aws_iam_role.mediaconvert[*].arn)
}
