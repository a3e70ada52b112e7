data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  lambda_visibility_timeout = var.lambda_timeout_seconds * var.visibility_timeout_multiplier

  # sources: S3 ObjectCreated under sources/ (-> on_source_uploaded)
  # encode:  encode requests for the ECS ffmpeg workers (STREAMSTACK_ENCODE_QUEUE)
  # events:  MediaConvert-style job state changes, and MediaLive / MediaPackage v2 events for managed live
  #          (-> on_encoding_event, STREAMSTACK_EVENTS_QUEUE)
  queues = {
    sources = local.lambda_visibility_timeout
    encode  = var.encode_visibility_timeout_seconds
    events  = local.lambda_visibility_timeout
  }

  # Entry points of streamstack.events.lambda_handlers and the queue that feeds each.
  handlers = {
    on_source_uploaded = { handler = "streamstack.events.lambda_handlers.on_source_uploaded", queue = "sources" }
    on_encoding_event  = { handler = "streamstack.events.lambda_handlers.on_encoding_event", queue = "events" }
  }

  lambda_runtime = "python3.12"

  # Read by streamstack.events.lambda_handlers itself (IDEMPOTENCY_TABLE_ENV), not through Settings.
  handler_environment = {
    STREAMSTACK_IDEMPOTENCY_TABLE = aws_dynamodb_table.idempotency.name
  }
}

################################################################################
# Queues, each with a DLQ
################################################################################

resource "aws_sqs_queue" "dlq" {
  for_each = local.queues

  name                      = "${var.name}-${each.key}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true

  tags = var.tags
}

resource "aws_sqs_queue" "this" {
  for_each = local.queues

  name                       = "${var.name}-${each.key}"
  visibility_timeout_seconds = each.value
  message_retention_seconds  = 345600
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = local.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

################################################################################
# Start events: S3 ObjectCreated under sources/ -> sources queue
################################################################################

data "aws_iam_policy_document" "sources_queue" {
  statement {
    sid       = "S3SendsSourceEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this["sources"].arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [var.media_bucket_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "sources" {
  queue_url = aws_sqs_queue.this["sources"].id
  policy    = data.aws_iam_policy_document.sources_queue.json
}

resource "aws_s3_bucket_notification" "sources" {
  bucket = var.media_bucket_name

  queue {
    id            = "source-uploaded"
    queue_arn     = aws_sqs_queue.this["sources"].arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "sources/"
  }

  depends_on = [aws_sqs_queue_policy.sources]
}

################################################################################
# Finish events: EventBridge MediaConvert Job State Change -> events queue
################################################################################

resource "aws_cloudwatch_event_rule" "mediaconvert" {
  name        = "${var.name}-mediaconvert-job-state"
  description = "State changes of this deployment's MediaConvert jobs"
  # Environments may share an account: a job is this deployment's when it writes to its media bucket
  # (streamstack.media.mediaconvert puts the bucket in UserMetadata).
  event_pattern = jsonencode({
    source        = ["aws.mediaconvert"]
    "detail-type" = ["MediaConvert Job State Change"]
    detail = {
      userMetadata = { bucket = [var.media_bucket_name] }
    }
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "mediaconvert" {
  rule      = aws_cloudwatch_event_rule.mediaconvert.name
  target_id = "events-queue"
  arn       = aws_sqs_queue.this["events"].arn
}

################################################################################
# Managed live (live_encoder = medialive): MediaLive channel alerts and state changes, MediaPackage v2
# harvest notifications -> events queue (streamstack.live.managed maps them to the live stream transitions)
################################################################################

locals {
  managed_live_rules = {
    # Events name a channel by ARN only: the handler acknowledges those of channels it does not know.
    medialive = {
      description = "MediaLive channel alerts and state changes (input connected or lost, channel stopped)"
      pattern = {
        source        = ["aws.medialive"]
        "detail-type" = ["MediaLive Channel Alert", "MediaLive Channel State Change"]
      }
    }
    mediapackagev2 = {
      description = "MediaPackage v2 harvest jobs of this deployment's channel group (live-to-VOD)"
      pattern = {
        source        = ["aws.mediapackagev2"]
        "detail-type" = ["MediaPackageV2 HarvestJob Notification"]
        resources = [{
          prefix = "arn:${data.aws_partition.current.partition}:mediapackagev2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:channelGroup/${coalesce(var.managed_live_channel_group, "-")}/"
        }]
      }
    }
  }
  managed_live = { for key, rule in local.managed_live_rules : key => rule if var.managed_live_channel_group != null }
}

resource "aws_cloudwatch_event_rule" "managed_live" {
  for_each = local.managed_live

  name          = "${var.name}-${each.key}-events"
  description   = each.value.description
  event_pattern = jsonencode(each.value.pattern)

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "managed_live" {
  for_each = local.managed_live

  rule      = aws_cloudwatch_event_rule.managed_live[each.key].name
  target_id = "events-queue"
  arn       = aws_sqs_queue.this["events"].arn
}

data "aws_iam_policy_document" "events_queue" {
  statement {
    sid       = "EventBridgeSendsJobEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this["events"].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = concat([aws_cloudwatch_event_rule.mediaconvert.arn], [for rule in aws_cloudwatch_event_rule.managed_live : rule.arn])
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.this["events"].id
  policy    = data.aws_iam_policy_document.events_queue.json
}

################################################################################
# Idempotency (Powertools DynamoDBPersistenceLayer defaults: key "id", TTL "expiration")
################################################################################

resource "aws_dynamodb_table" "idempotency" {
  name                        = "${var.name}-idempotency"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.idempotency_deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

################################################################################
# Handler functions
################################################################################

resource "aws_security_group" "lambda" {
  name        = "${var.name}-handlers"
  description = "streamstack Lambda handlers"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-handlers" })
}

resource "aws_vpc_security_group_egress_rule" "lambda_https" {
  security_group_id = aws_security_group.lambda.id
  description       = "AWS APIs (endpoints or NAT)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "lambda_postgres" {
  security_group_id = aws_security_group.lambda.id
  description       = "PostgreSQL inside the VPC"
  cidr_ipv4         = var.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432

  tags = var.tags
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "handler" {
  for_each = local.handlers

  name               = "${var.name}-${replace(each.key, "_", "-")}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json

  tags = var.tags
}

# ENIs in the VPC, logs, traces: the Lambda service's own needs, not the app's.
resource "aws_iam_role_policy_attachment" "vpc_access" {
  for_each = local.handlers

  role       = aws_iam_role.handler[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy_attachment" "xray" {
  for_each = local.handlers

  role       = aws_iam_role.handler[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

# The event source mapping polls with the function's role.
data "aws_iam_policy_document" "consume" {
  for_each = local.handlers

  statement {
    sid = "ConsumeOwnQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.this[each.value.queue].arn]
  }

  statement {
    sid       = "DecryptEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "consume" {
  for_each = local.handlers

  name   = "consume-${each.value.queue}"
  role   = aws_iam_role.handler[each.key].id
  policy = data.aws_iam_policy_document.consume[each.key].json
}

resource "aws_iam_role_policy" "app" {
  for_each = var.handler_policies

  name   = "streamstack-${replace(each.key, "_", "-")}"
  role   = aws_iam_role.handler[each.key].id
  policy = each.value
}

resource "aws_cloudwatch_log_group" "handler" {
  for_each = local.handlers

  name              = "/aws/lambda/${var.name}-${replace(each.key, "_", "-")}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_lambda_function" "handler" {
  #checkov:skip=CKV_AWS_116:SQS invokes these synchronously through the event source mapping; failed records go to the source queue's DLQ, a function DLQ only catches async invocations.
  #checkov:skip=CKV_AWS_272:Lambda code signing applies to Zip packages only; the image variant is built from deploy/Dockerfile by the terraform workflow's image job and pushed to an immutable, scanned ECR repository (bootstrap).
  for_each = local.handlers

  function_name                  = "${var.name}-${replace(each.key, "_", "-")}"
  description                    = "streamstack ${each.value.handler}"
  role                           = aws_iam_role.handler[each.key].arn
  package_type                   = var.lambda_package.type
  image_uri                      = var.lambda_package.type == "Image" ? var.lambda_package.image_uri : null
  s3_bucket                      = var.lambda_package.type == "Zip" ? var.lambda_package.s3_bucket : null
  s3_key                         = var.lambda_package.type == "Zip" ? var.lambda_package.s3_key : null
  runtime                        = var.lambda_package.type == "Zip" ? local.lambda_runtime : null
  handler                        = var.lambda_package.type == "Zip" ? each.value.handler : null
  timeout                        = var.lambda_timeout_seconds
  memory_size                    = var.lambda_memory_mb
  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  dynamic "image_config" {
    for_each = var.lambda_package.type == "Image" ? [1] : []
    content {
      command = [each.value.handler]
    }
  }

  environment {
    variables = merge(var.environment, local.handler_environment)
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.handler[each.key].name
  }

  tags = var.tags

  depends_on = [
    aws_iam_role_policy_attachment.vpc_access,
    aws_iam_role_policy.consume,
  ]
}

resource "aws_lambda_event_source_mapping" "handler" {
  for_each = local.handlers

  event_source_arn                   = aws_sqs_queue.this[each.value.queue].arn
  function_name                      = aws_lambda_function.handler[each.key].arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.reserved_concurrency == null || var.maximum_concurrency <= coalesce(var.reserved_concurrency, 0)
      error_message = "maximum_concurrency above reserved_concurrency only produces throttles."
    }
    precondition {
      condition     = aws_sqs_queue.this[each.value.queue].visibility_timeout_seconds >= 6 * var.lambda_timeout_seconds
      error_message = "The queue's visibility timeout must be at least 6x the function timeout."
    }
  }
}
