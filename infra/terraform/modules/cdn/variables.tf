variable "name" {
  description = "Prefix of every resource name; starts with the environment (e.g. dev-streamstack)."
  type        = string
}

variable "edge_origin_host" {
  description = "Host name of the edge origin (a DNS name of the load balancer covered by its certificate). Null: no edge origin; the default behavior then serves only /assets/* from S3."
  type        = string
  default     = null
}

variable "aliases" {
  description = "Alternate domain names of the distribution (e.g. [\"cdn.example.com\"]); needs acm_certificate_arn."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "ACM certificate in us-east-1 for the aliases. Null: the *.cloudfront.net certificate."
  type        = string
  default     = null
}

variable "signing_public_keys" {
  description = "PEM public keys of the trusted key group, by key name. Keep two during a rotation (docs/deploy.md)."
  type        = map(string)

  validation {
    condition     = length(var.signing_public_keys) > 0 && alltrue([for k, v in var.signing_public_keys : can(regex("BEGIN PUBLIC KEY", v))])
    error_message = "signing_public_keys needs at least one PEM-encoded public key."
  }
}

variable "require_signed_assets" {
  description = "Require a signed URL or cookie from the trusted key group on /assets/* (direct S3 objects). The edge issues them with the playlists."
  type        = bool
  default     = true
}

variable "cors_allowed_origins" {
  description = "Origins allowed to fetch playlists and segments from a browser player (CORS), and to PUT upload parts to the bucket."
  type        = list(string)
  default     = ["*"]
}

variable "segment_ttl_seconds" {
  description = "Cache lifetime of immutable VOD segments and images."
  type        = number
  default     = 31536000
}

variable "playlist_ttl_seconds" {
  description = "Maximum cache lifetime of playlists (live playlists change every segment)."
  type        = number
  default     = 2
}

variable "origin_shield_region" {
  description = "Region of Origin Shield in front of both origins; null: the region of the origin (the bucket and the load balancer). Must be a region CloudFront offers Origin Shield in."
  type        = string
  default     = null
}

variable "price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"
}

variable "geo_restriction_type" {
  description = "none, whitelist or blacklist (rights-managed sports content is often geo-fenced)."
  type        = string
  default     = "none"
}

variable "geo_restriction_locations" {
  description = "ISO 3166-1 alpha-2 country codes for geo_restriction_type."
  type        = list(string)
  default     = []
}

variable "origin_verify_header" {
  description = "Header (name, value) CloudFront adds to every request to the edge origin; the load balancer forwards only requests that carry it."
  type = object({
    name  = string
    value = string
  })
}

variable "waf_viewers_per_address" {
  description = "Viewers one public IP may carry (carrier-grade NAT, a venue's Wi-Fi) before the per-IP rate rule blocks it (capacity model in docs/deploy.md)."
  type        = number
  default     = 200
}

variable "waf_requests_per_viewer" {
  description = "Requests one viewer makes in 5 minutes at the most demanding playback (low-latency HLS: parts and blocking playlist reloads), from the capacity model in docs/deploy.md."
  type        = number
  default     = 1500
}

variable "anonymous_ip_action" {
  description = "count (observe) or block: the AWS anonymous-IP rule set (VPNs, proxies, Tor, hosting providers), for geo-rights-managed content."
  type        = string
  default     = "count" # modules/web_acl validates it
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted media object version is kept."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Days CloudFront access logs and WAF logs are kept."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key (this region) of the log groups."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "media_bucket_policy_documents" {
  description = "More policy statements (JSON) for the media bucket, e.g. MediaPackage v2 harvest writes (live_managed)."
  type        = list(string)
  default     = []
}

variable "managed_live" {
  description = "live_encoder = medialive: serve /out/v1/* (the managed live streams' endpoints) from mediapackage_egress_domain, signed, through origin access control. A flag of its own: the domain is unknown until applied."
  type        = bool
  default     = false
}

variable "mediapackage_egress_domain" {
  description = "Egress domain of the MediaPackage v2 channel group (with managed_live)."
  type        = string
  default     = null
}
