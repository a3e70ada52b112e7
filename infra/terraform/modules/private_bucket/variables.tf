variable "name" {
  description = "Bucket name, starting with the environment's prefix (e.g. prod-streamstack-media-<account id>)."
  type        = string
}

variable "object_ownership" {
  description = "BucketOwnerEnforced (ACLs off), or BucketOwnerPreferred for a log destination whose delivery writes through ACL grants (CloudFront standard logs)."
  type        = string
  default     = "BucketOwnerEnforced"

  validation {
    condition     = contains(["BucketOwnerEnforced", "BucketOwnerPreferred"], var.object_ownership)
    error_message = "object_ownership must be BucketOwnerEnforced or BucketOwnerPreferred."
  }
}

variable "kms_key_arn" {
  description = "KMS key of SSE-KMS; null: SSE-S3 (what ALB and CloudFront log delivery and cheap CloudFront origin fetches need)."
  type        = string
  default     = null
}

variable "access_log" {
  description = "Where this bucket's S3 server access logs go: bucket (its name) under s3/<name>/; null: no access logs (a log destination itself). An object, so that the bucket name may be unknown until apply (a new log bucket) while whether to log is known at plan."
  type = object({
    bucket = string
  })
  default = null
}

variable "abort_incomplete_upload_days" {
  description = "Days after which an incomplete multipart upload is aborted, anywhere in the bucket."
  type        = number
  default     = 1
}

variable "lifecycle_rules" {
  description = "Lifecycle rules: id, prefix (null: the whole bucket), and the days after which objects and noncurrent versions expire (null: never)."
  type = list(object({
    id                      = string
    prefix                  = optional(string)
    expiration_days         = optional(number)
    noncurrent_version_days = optional(number)
  }))
}

variable "policy_documents" {
  description = "Bucket policy JSON documents of the caller, merged with the statement that denies plain HTTP."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Allow destroying the bucket while it holds objects (only for throwaway accounts)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to the bucket."
  type        = map(string)
  default     = {}
}
