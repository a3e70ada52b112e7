# The first `terraform plan` of an environment on an empty account: no state, every resource to create.
# Run per environment with its values (tests/infra/test_terraform.py, or by hand):
#   terraform test -var-file=environments/dev/terraform.tfvars
# The providers are mocked, so nothing reaches AWS. As on a real first plan, every attribute AWS computes
# (ids, ARNs, domain names) stays unknown during the plan (no mock is told to override during plan); only the data
# sources a real plan reads (account, region, zones) are given account-like values.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  # The provider validates policy JSON at plan; the mock's random string would not be JSON.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

mock_provider "aws" {
  alias = "us_east_1"

  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

# The account-specific inputs CI writes to environments/<env>/account.tfvars (docs/deploy.md).
variables {
  region              = "eu-west-1"
  api_certificate_arn = "arn:aws:acm:eu-west-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
  public_api_url      = "https://api.example.com"
  edge_origin_host    = "edge-origin.example.com"
  signing_public_keys = { k2026a = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n" }
  alarm_emails        = ["oncall@example.com"]
  container_image     = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/dev-streamstack:0123456789abcdef0123456789abcdef01234567"
  lambda_package = {
    type      = "Image"
    image_uri = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/dev-streamstack-lambda:0123456789abcdef0123456789abcdef01234567"
  }
}

run "ffmpeg" {
  command = plan

  variables {
    encoder     = "ffmpeg"
    live_events = []
  }

  assert {
    condition     = length(module.api_service.service_names) == 3
    error_message = "api, worker and edge services are planned"
  }

  assert {
    condition     = module.encoding.mediaconvert_role_arn == null
    error_message = "no MediaConvert role without encoder = mediaconvert"
  }
}

run "mediaconvert" {
  command = plan

  variables {
    encoder     = "mediaconvert"
    live_events = []
  }
}

run "live_event" {
  command = plan

  variables {
    encoder = "ffmpeg"
    live_events = [
      { name = "cup-final", start_time = "2030-06-01T19:30:00Z", expected_viewers = 200000, duration_minutes = 180 },
    ]
  }
}

run "live_ingest" {
  command = plan

  variables {
    encoder     = "ffmpeg"
    live_events = []
    live_ingest = true
  }

  assert {
    condition     = length(module.live_ingest) == 1 && endswith(module.live_ingest[0].service_name, "-ingest")
    error_message = "the ingest service is planned with live_ingest = true"
  }
}

run "live_managed" {
  command = plan

  variables {
    encoder      = "ffmpeg"
    live_events  = []
    live_encoder = "medialive"
  }

  assert {
    condition     = length(module.live_managed) == 1 && length(module.live_ingest) == 0
    error_message = "live_encoder = medialive plans the managed live parts, and no ingest service unless asked"
  }

  assert {
    condition     = keys(module.event_processor.managed_live_rule_names) == ["medialive", "mediapackagev2"]
    error_message = "live_encoder = medialive routes MediaLive and MediaPackage v2 events to the events queue"
  }
}
