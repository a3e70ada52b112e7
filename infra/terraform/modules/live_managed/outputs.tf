output "input_security_group_id" {
  description = "MediaLive input security group of RTMP_PUSH inputs."
  value       = aws_medialive_input_security_group.publishers.id
}

output "channel_role_arn" {
  description = "Role MediaLive channels assume."
  value       = aws_iam_role.medialive.arn
}

output "channel_group_name" {
  description = "MediaPackage v2 channel group of the live streams."
  value       = aws_media_packagev2_channel_group.this.name
}

output "channel_group_egress_domain" {
  description = "Egress domain of the channel group: the origin CloudFront reads endpoints from."
  value       = aws_media_packagev2_channel_group.this.egress_domain
}

output "harvest_bucket_policy" {
  description = "Media bucket policy statement that lets MediaPackage v2 harvest jobs write recordings (merged by the cdn module)."
  value       = data.aws_iam_policy_document.harvest.json
}
