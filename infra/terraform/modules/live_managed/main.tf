data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  # MediaPackage v2 channels of this deployment: named <channel group>/<name>-<live stream id> by the app.
  channels_arn = "arn:${local.partition}:mediapackagev2:${local.region}:${local.account_id}:channelGroup/${aws_media_packagev2_channel_group.this.name}/channel/*"
}

################################################################################
# Publishers: MediaLive RTMP_PUSH inputs (created per live stream by the app) admit only these ranges
################################################################################

resource "aws_medialive_input_security_group" "publishers" {
  dynamic "whitelist_rules" {
    for_each = var.publisher_cidrs
    content {
      cidr = whitelist_rules.value
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-publishers" })
}

################################################################################
# MediaPackage v2: the channel group that holds one channel and LL-HLS endpoint per live stream
################################################################################

resource "aws_media_packagev2_channel_group" "this" {
  name        = var.name
  description = "streamstack live streams (live_encoder = medialive)"

  tags = var.tags
}

################################################################################
# The role MediaLive channels assume: push CMAF into this group's channels, nothing else
################################################################################

data "aws_iam_policy_document" "medialive_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["medialive.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "medialive" {
  name               = "${var.name}-medialive"
  assume_role_policy = data.aws_iam_policy_document.medialive_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "medialive" {
  statement {
    sid       = "PushToMediaPackage"
    actions   = ["mediapackagev2:PutObject"]
    resources = [local.channels_arn]
  }
}

resource "aws_iam_role_policy" "medialive" {
  name   = "push-to-mediapackage"
  role   = aws_iam_role.medialive.id
  policy = data.aws_iam_policy_document.medialive.json
}

################################################################################
# Harvest (live-to-VOD): MediaPackage v2 writes harvested recordings under assets/ of the media bucket
################################################################################

# A statement for the media bucket's policy (the cdn module merges it): MediaPackage v2 harvest jobs write as
# the service principal, only for this account's channel groups.
data "aws_iam_policy_document" "harvest" {
  statement {
    sid       = "MediaPackageHarvestsRecordings"
    actions   = ["s3:PutObject"]
    resources = ["${var.media_bucket_arn}/assets/*"]
    principals {
      type        = "Service"
      identifiers = ["mediapackagev2.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:mediapackagev2:${local.region}:${local.account_id}:channelGroup/${var.name}/*"]
    }
  }
}
