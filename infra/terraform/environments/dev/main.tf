provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Environment = "dev"
      Project     = "streamstack"
    }
  }
}

# CloudFront-scoped WAF, CloudFront metrics and their alarms exist only in us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = {
      Environment = "dev"
      Project     = "streamstack"
    }
  }
}

module "streamstack" {
  source = "../.."
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  environment = "dev"

  az_count               = 2
  enable_nat_gateway     = true
  one_nat_gateway_per_az = false

  container_image = var.container_image
  lambda_package  = { type = "Image", image_uri = var.lambda_image_uri }

  api_certificate_arn  = var.api_certificate_arn
  public_api_url       = var.public_api_url
  edge_origin_host     = var.edge_origin_host
  cdn_aliases          = var.cdn_aliases
  cdn_certificate_arn  = var.cdn_certificate_arn
  signing_public_keys  = var.signing_public_keys
  cors_allowed_origins = var.cors_allowed_origins

  service_sizes = {
    api     = { cpu = 256, memory = 512, desired_count = 1, min_capacity = 1, max_capacity = 2 }
    worker  = { cpu = 2048, memory = 4096, desired_count = 1, min_capacity = 1, max_capacity = 2 }
    edge    = { cpu = 256, memory = 512, desired_count = 1, min_capacity = 1, max_capacity = 2 }
    migrate = { cpu = 256, memory = 512, desired_count = 0, min_capacity = 0, max_capacity = 0 }
  }
  live_events = var.live_events

  encoder                  = var.encoder
  db_instance_class        = "db.t4g.medium" # the smallest class with Performance Insights
  db_multi_az              = false
  db_backup_retention_days = 1
  deletion_protection      = false
  log_retention_days       = 30
  log_level                = "DEBUG"
  alarm_emails             = var.alarm_emails
}
