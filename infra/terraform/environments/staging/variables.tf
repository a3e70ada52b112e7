variable "region" {
  description = "AWS region of the staging environment."
  type        = string
}

variable "container_image" {
  description = "streamstack image for api, worker, edge and migrate (CI passes the commit's tag)."
  type        = string
}

variable "lambda_image_uri" {
  description = "Lambda variant of the streamstack image."
  type        = string
}

variable "api_certificate_arn" {
  description = "Regional ACM certificate of the load balancer."
  type        = string
}

variable "public_api_url" {
  description = "Base URL of the API."
  type        = string
  default     = null
}

variable "edge_origin_host" {
  description = "DNS name pointing at the load balancer for the edge origin."
  type        = string
  default     = null
}

variable "cdn_aliases" {
  description = "Alternate domain names of the CDN."
  type        = list(string)
  default     = []
}

variable "cdn_certificate_arn" {
  description = "us-east-1 ACM certificate of the CDN aliases."
  type        = string
  default     = null
}

variable "signing_public_keys" {
  description = "PEM public keys of playback signing, by key name."
  type        = map(string)
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to play and upload."
  type        = list(string)
  default     = ["*"]
}

variable "encoder" {
  description = "ffmpeg or mediaconvert."
  type        = string
  default     = "ffmpeg"
}

variable "live_events" {
  description = "Announced live events to pre-scale for (live-events.auto.tfvars)."
  type = list(object({
    name             = string
    start_time       = string
    expected_viewers = number
    duration_minutes = number
  }))
  default = []
}

variable "alarm_emails" {
  description = "Who the alarms notify."
  type        = list(string)
  default     = []
}
