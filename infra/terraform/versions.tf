terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Partial configuration, one state per environment: the key comes from environments/<env>/backend.hcl,
  # bucket, region and kms_key_id from `terraform init -backend-config=...` (docs/deploy.md), so no
  # account or region is written here.
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}
