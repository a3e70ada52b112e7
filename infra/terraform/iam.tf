# The app's IAM policies, one statement per row group of docs/aws-permissions.md.
# tests/infra/test_iam.py holds this file and that table to each other: an action granted here
# is listed there, and every action listed there is granted here. No statement has a wildcard action.

locals {
  media_bucket_arn = module.cdn.media_bucket_arn
  sources_objects  = "${local.media_bucket_arn}/sources/*"
  assets_objects   = "${local.media_bucket_arn}/assets/*"
  uploads_objects  = "${local.media_bucket_arn}/uploads/*" # staged tails (< one part) of tus uploads
  live_objects     = "${local.media_bucket_arn}/live/*"    # unrecorded live sessions (storage/keys.py live_session_prefix)
  tracks_objects   = "${local.media_bucket_arn}/tracks/*"  # text tracks as accepted, published into assets/ (keys.py)
  app_secret_arns  = [for s in aws_secretsmanager_secret.app : s.arn]
  queue_arns       = module.event_processor.queue_arns
  all_queue_arns   = concat(values(module.event_processor.queue_arns), values(module.event_processor.dlq_arns))
  mediaconvert_arn = "arn:${local.partition}:mediaconvert:${local.region}:${local.account_id}"

  # live_encoder = medialive: the app manages the MediaLive and MediaPackage v2 resources it tags with the
  # deployment's channel group (streamstack.media.medialive TAG_CHANNEL_GROUP), which is named local.name.
  managed_live       = var.live_encoder == "medialive" ? [1] : []
  medialive_arn      = "arn:${local.partition}:medialive:${local.region}:${local.account_id}"
  live_channel_group = "arn:${local.partition}:mediapackagev2:${local.region}:${local.account_id}:channelGroup/${local.name}"

  task_role_policies = {
    api     = data.aws_iam_policy_document.api.json
    worker  = data.aws_iam_policy_document.worker.json
    edge    = data.aws_iam_policy_document.edge.json
    migrate = data.aws_iam_policy_document.read_secrets.json # the database with the injected master password; `keys create` reads no more
  }

  handler_policies = {
    on_source_uploaded = data.aws_iam_policy_document.on_source_uploaded.json
    on_encoding_event  = data.aws_iam_policy_document.on_encoding_event.json
  }
}

################################################################################
# Statements more than one role needs, written once
################################################################################

data "aws_iam_policy_document" "read_secrets" {
  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.app_secret_arns
  }
}

# The app user only (STREAMSTACK_DATABASE_IAM_AUTH): a token for any other role, the master included, is refused.
data "aws_iam_policy_document" "connect_database" {
  statement {
    sid       = "ConnectAsAppUser"
    actions   = ["rds-db:connect"]
    resources = [module.database.app_user_arn]
  }
}

data "aws_iam_policy_document" "read_assets" {
  statement {
    sid       = "ReadAssets"
    actions   = ["s3:GetObject"]
    resources = [local.assets_objects]
  }
}

# A live session that is not recorded: its playlists, parts and segments, read by the edge (and the ingest).
data "aws_iam_policy_document" "read_live_sessions" {
  statement {
    sid       = "ReadLiveSessions"
    actions   = ["s3:GetObject"]
    resources = [local.live_objects]
  }
}

data "aws_iam_policy_document" "list_assets" {
  statement {
    sid       = "ListAssets"
    actions   = ["s3:ListBucket"]
    resources = [local.media_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["assets/*"]
    }
  }
}

data "aws_iam_policy_document" "enqueue_encodes" {
  statement {
    sid       = "EnqueueEncodes"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
    resources = [local.queue_arns["encode"]]
  }
}

data "aws_iam_policy_document" "queue_status" {
  statement {
    sid       = "QueueStatus"
    actions   = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = local.all_queue_arns
  }
}

data "aws_iam_policy_document" "idempotency" {
  statement {
    sid       = "Idempotency"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [module.event_processor.idempotency_table_arn]
  }
}

################################################################################
# api: uploads (tus backed by S3 multipart, presigned parts), clips and text tracks, asset reads and deletes,
# queue status
################################################################################

data "aws_iam_policy_document" "api" {
  source_policy_documents = [
    data.aws_iam_policy_document.connect_database.json,
    data.aws_iam_policy_document.read_assets.json,
    data.aws_iam_policy_document.enqueue_encodes.json,
    data.aws_iam_policy_document.queue_status.json,
    data.aws_iam_policy_document.read_secrets.json,
  ]

  # Pre-scaling for scheduled live streams (docs/capacity.md): the app puts and deletes its own scheduled
  # actions (named streamstack-live-*) and never lists them, as DescribeScheduledActions only takes "*".
  statement {
    sid       = "PrescaleLiveEvents"
    actions   = ["application-autoscaling:PutScheduledAction", "application-autoscaling:DeleteScheduledAction"]
    resources = ["arn:${local.partition}:application-autoscaling:${local.region}:${local.account_id}:scalable-target/*"]
  }

  statement {
    sid       = "WriteUploads"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = [local.sources_objects]
  }

  # head_object once an upload completes: the source's size for the catalog (uploads/s3_multipart.py).
  statement {
    sid       = "HeadUploadedSources"
    actions   = ["s3:GetObject"]
    resources = [local.sources_objects]
  }

  statement {
    sid       = "FindMultipartUploads"
    actions   = ["s3:ListBucketMultipartUploads"]
    resources = [local.media_bucket_arn]
  }

  statement {
    sid       = "TusTails"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = [local.uploads_objects]
  }

  statement {
    sid       = "TextTracks"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = [local.tracks_objects]
  }

  # A clip's segments (copied from its source) and playlists; a ready asset's text tracks and its master.
  statement {
    sid       = "PublishClipsAndTracks"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [local.assets_objects]
  }

  statement {
    sid       = "DeleteMedia"
    actions   = ["s3:DeleteObject"]
    resources = [local.sources_objects, local.assets_objects]
  }

  statement {
    sid       = "ListMedia"
    actions   = ["s3:ListBucket"]
    resources = [local.media_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["sources/*", "assets/*", "tracks/*"]
    }
  }

  # head_bucket (the /readyz store check) is authorised as ListBucket without a prefix.
  statement {
    sid       = "HeadBucketForReadiness"
    actions   = ["s3:ListBucket"]
    resources = [local.media_bucket_arn]
    condition {
      test     = "Null"
      variable = "s3:prefix"
      values   = ["true"]
    }
  }

  # Managed live: each stream's MediaLive input and channel and MediaPackage v2 channel and endpoint. The app
  # keeps the ids MediaLive answers with and never lists (ListInputs/ListChannels take only "*").
  dynamic "statement" {
    for_each = local.managed_live
    content {
      sid       = "CreateManagedLive"
      actions   = ["medialive:CreateInput", "medialive:CreateChannel", "medialive:CreateTags"]
      resources = ["${local.medialive_arn}:channel:*", "${local.medialive_arn}:input:*", "${local.medialive_arn}:inputSecurityGroup:${module.live_managed[0].input_security_group_id}"]
      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/streamstack:channel_group"
        values   = [local.name]
      }
    }
  }

  dynamic "statement" {
    for_each = local.managed_live
    content {
      sid       = "RunManagedLive"
      actions   = ["medialive:DescribeChannel", "medialive:StartChannel", "medialive:StopChannel", "medialive:UpdateChannel", "medialive:DeleteChannel", "medialive:UpdateInput", "medialive:DeleteInput"]
      resources = ["${local.medialive_arn}:channel:*", "${local.medialive_arn}:input:*"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/streamstack:channel_group"
        values   = [local.name]
      }
    }
  }

  dynamic "statement" {
    for_each = local.managed_live
    content {
      sid       = "PassRoleToMediaLive"
      actions   = ["iam:PassRole"]
      resources = [module.live_managed[0].channel_role_arn]
      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["medialive.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.managed_live
    content {
      sid       = "ManageMediaPackageChannels"
      actions   = ["mediapackagev2:CreateChannel", "mediapackagev2:CreateOriginEndpoint", "mediapackagev2:PutOriginEndpointPolicy", "mediapackagev2:DeleteOriginEndpoint", "mediapackagev2:DeleteChannel", "mediapackagev2:TagResource"]
      resources = [local.live_channel_group, "${local.live_channel_group}/*"]
    }
  }
}

################################################################################
# worker: consume encodes, read sources, write renditions, report job state changes (never consume them)
################################################################################

data "aws_iam_policy_document" "worker" {
  source_policy_documents = [
    data.aws_iam_policy_document.connect_database.json,
    data.aws_iam_policy_document.list_assets.json,
    data.aws_iam_policy_document.queue_status.json,
    data.aws_iam_policy_document.read_secrets.json,
  ]

  statement {
    sid       = "ReadMedia"
    actions   = ["s3:GetObject"]
    resources = [local.sources_objects, local.assets_objects]
  }

  statement {
    sid       = "WriteAssets"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]
    resources = [local.assets_objects]
  }

  # URL imports (on the encode queue): the worker fetches the source into sources/, whose event starts the encode.
  statement {
    sid       = "ImportSources"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [local.sources_objects]
  }

  # Only encodes (STREAMSTACK_WORKER_QUEUES): job events belong to the on_encoding_event function.
  statement {
    sid = "ConsumeEncodes"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [local.queue_arns["encode"]]
  }

  statement {
    sid       = "SendJobEvents"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
    resources = [local.queue_arns["events"]]
  }

  # Managed live: a session past its reconnect window or duration limit has its channel stopped, and a create
  # that never committed its stream (the api died half-way) has what its record names deleted (worker ticks).
  dynamic "statement" {
    for_each = local.managed_live
    content {
      sid       = "StopOrUndoManagedLive"
      actions   = ["medialive:DescribeChannel", "medialive:StopChannel", "medialive:DeleteChannel", "medialive:DeleteInput"]
      resources = ["${local.medialive_arn}:channel:*", "${local.medialive_arn}:input:*"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/streamstack:channel_group"
        values   = [local.name]
      }
    }
  }

  dynamic "statement" {
    for_each = local.managed_live
    content {
      sid       = "UndoAbandonedMediaPackageChannels"
      actions   = ["mediapackagev2:DeleteOriginEndpoint", "mediapackagev2:DeleteChannel"]
      resources = ["${local.live_channel_group}/*"]
    }
  }
}

################################################################################
# edge: read renditions and live sessions on a cache miss; signing keys
################################################################################

data "aws_iam_policy_document" "edge" {
  source_policy_documents = [
    data.aws_iam_policy_document.connect_database.json,
    data.aws_iam_policy_document.read_assets.json,
    data.aws_iam_policy_document.read_live_sessions.json,
    data.aws_iam_policy_document.read_secrets.json,
  ]
}

################################################################################
# on_source_uploaded: start an encode (message for the workers, or a MediaConvert job)
################################################################################

data "aws_iam_policy_document" "on_source_uploaded" {
  source_policy_documents = [
    data.aws_iam_policy_document.connect_database.json,
    data.aws_iam_policy_document.enqueue_encodes.json,
    data.aws_iam_policy_document.idempotency.json,
    data.aws_iam_policy_document.read_secrets.json,
  ]

  statement {
    sid       = "ReadSources"
    actions   = ["s3:GetObject"]
    resources = [local.sources_objects]
  }

  dynamic "statement" {
    for_each = var.encoder == "mediaconvert" ? [1] : []
    content {
      sid       = "CreateMediaConvertJobs"
      actions   = ["mediaconvert:CreateJob"]
      resources = ["${local.mediaconvert_arn}:queues/*", "${local.mediaconvert_arn}:presets/*", "${local.mediaconvert_arn}:jobTemplates/*"]
    }
  }

  dynamic "statement" {
    for_each = var.encoder == "mediaconvert" ? [1] : []
    content {
      sid       = "PassRoleToMediaConvert"
      actions   = ["iam:PassRole"]
      resources = [module.encoding.mediaconvert_role_arn]
      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["mediaconvert.amazonaws.com"]
      }
    }
  }
}

################################################################################
# on_encoding_event: run the metadata processor on a job state change
################################################################################

data "aws_iam_policy_document" "on_encoding_event" {
  source_policy_documents = [
    data.aws_iam_policy_document.connect_database.json,
    data.aws_iam_policy_document.read_assets.json,
    data.aws_iam_policy_document.list_assets.json,
    data.aws_iam_policy_document.idempotency.json,
    data.aws_iam_policy_document.read_secrets.json,
  ]

  # Text tracks added while the asset encoded join its master when the job completes (assets/tracks.py).
  statement {
    sid       = "PublishTracks"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = [local.assets_objects]
  }

  statement {
    sid       = "ReadTracks"
    actions   = ["s3:GetObject"]
    resources = [local.tracks_objects]
  }

  # Managed live: a stopped channel's session is harvested, and the channel restarted for the next one.
  dynamic "statement" {
    for_each = local.managed_live
    content {
      sid       = "RestartManagedLive"
      actions   = ["medialive:DescribeChannel", "medialive:StartChannel"]
      resources = ["${local.medialive_arn}:channel:*"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/streamstack:channel_group"
        values   = [local.name]
      }
    }
  }

  dynamic "statement" {
    for_each = local.managed_live
    content {
      sid       = "HarvestManagedSessions"
      actions   = ["mediapackagev2:CreateHarvestJob", "mediapackagev2:TagResource"]
      resources = ["${local.live_channel_group}/*"]
    }
  }
}

################################################################################
# ingest: the live packager writes parts, segments and playlists of recordings under assets/, of unrecorded
# sessions under live/ (the whole session's prefix goes when it ends)
################################################################################

data "aws_iam_policy_document" "ingest" {
  source_policy_documents = [
    data.aws_iam_policy_document.connect_database.json,
    data.aws_iam_policy_document.read_assets.json,        # head_object after each put, a hand-over
    data.aws_iam_policy_document.read_live_sessions.json, # the same for an unrecorded session
    data.aws_iam_policy_document.read_secrets.json,
  ]

  statement {
    sid = "WriteLiveAssets"
    # delete: the packager drops parts once out of the live window, and a session's hand-over once taken over
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]
    resources = [local.assets_objects, local.live_objects]
  }

  # An unrecorded session's end deletes its prefix, live/{live_stream_id}/{started}/, found by listing it.
  statement {
    sid       = "ListLiveSessions"
    actions   = ["s3:ListBucket"]
    resources = [local.media_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["live/*"]
    }
  }
}
