data "aws_caller_identity" "current" {}

locals {
  bucket = "${var.name}-tfstate-${data.aws_caller_identity.current.account_id}"
}

# State holds secrets of resources (e.g. generated values); it gets its own key.
module "key" {
  source = "../kms_key"

  name        = "${var.name}-tfstate"
  description = "${var.name} Terraform state"
  tags        = var.tags
}

# Access to state is audited through CloudTrail data events; server access logs would need yet another
# bucket before any state exists. Versioning keeps every previous state.
module "bucket" {
  source = "../private_bucket"

  name          = local.bucket
  kms_key_arn   = module.key.arn
  force_destroy = var.force_destroy
  lifecycle_rules = [
    { id = "old-state-versions", noncurrent_version_days = var.noncurrent_version_days },
  ]
  tags = var.tags
}

resource "aws_dynamodb_table" "lock" {
  count = var.create_lock_table ? 1 : 0

  name                        = "${var.name}-tflock"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "LockID"
  deletion_protection_enabled = true

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key.arn
  }

  tags = var.tags
}
