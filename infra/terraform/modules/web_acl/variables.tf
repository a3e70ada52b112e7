variable "name" {
  description = "Name of the web ACL (and suffix of its aws-waf-logs- log group), starting with the environment's prefix."
  type        = string
}

variable "scope" {
  description = "REGIONAL (load balancer) or CLOUDFRONT (give this module the us-east-1 provider)."
  type        = string

  validation {
    condition     = contains(["REGIONAL", "CLOUDFRONT"], var.scope)
    error_message = "scope must be REGIONAL or CLOUDFRONT."
  }
}

variable "common_rules_to_count" {
  description = "Rules of AWSManagedRulesCommonRuleSet that only count instead of block (e.g. SizeRestrictions_BODY where bodies are media chunks)."
  type        = list(string)
  default     = []
}

variable "anonymous_ip_action" {
  description = "What AWSManagedRulesAnonymousIpList (VPNs, proxies, Tor, hosting providers) does: count to observe, block to enforce."
  type        = string
  default     = "count"

  validation {
    condition     = contains(["count", "block"], var.anonymous_ip_action)
    error_message = "anonymous_ip_action must be count or block."
  }
}

variable "rate_limit" {
  description = "Requests per 5 minutes from one IP before the rate-based rule blocks it."
  type        = number
}

variable "rate_limit_exempt_header" {
  description = "Requests carrying this header (name, exact value) are not counted by the per-IP rate rule (e.g. CloudFront's requests to an origin behind this ACL, limited per viewer by CloudFront's own ACL); null: every request counts."
  type = object({
    name  = string
    value = string
  })
  default = null
}

variable "log_retention_days" {
  description = "Retention of the WAF log group, in days."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key of the WAF log group (its policy lets CloudWatch Logs of the provider's region use it)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
