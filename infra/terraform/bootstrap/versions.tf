terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # The state bucket cannot hold its own creation: this root keeps local state once,
  # then `terraform init -migrate-state` moves it into the bucket (docs/deploy.md).
}
