data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name = "${var.environment}-${var.project}"
  # The app reads <prefix><name> (streamstack.secrets); the secrets below are created and granted under it.
  secrets_prefix = "${local.name}/"
  region         = data.aws_region.current.name
  account_id     = data.aws_caller_identity.current.account_id
  partition      = data.aws_partition.current.partition

  tags = merge(var.tags, {
    Environment = var.environment
    Project     = var.project
    ManagedBy   = "terraform"
  })

  # Every name here is a field of streamstack.settings.Settings (tests/infra check it).
  app_environment_all = {
    STREAMSTACK_PROFILE                  = "aws"
    STREAMSTACK_AWS_REGION               = local.region
    STREAMSTACK_S3_BUCKET                = module.cdn.media_bucket_name
    STREAMSTACK_ENCODE_QUEUE             = module.event_processor.queue_names["encode"]
    STREAMSTACK_EVENTS_QUEUE             = module.event_processor.queue_names["events"]
    STREAMSTACK_QUEUE_VISIBILITY_TIMEOUT = tostring(var.encode_visibility_timeout_seconds)
    STREAMSTACK_QUEUE_MAX_RECEIVE_COUNT  = tostring(var.max_receive_count)
    STREAMSTACK_WORKER_CONCURRENCY       = tostring(var.worker_concurrency)
    STREAMSTACK_WORKER_QUEUES            = jsonencode(["encode"]) # events belong to the on_encoding_event Lambda
    STREAMSTACK_ENCODER                  = var.encoder
    STREAMSTACK_MEDIACONVERT_ROLE_ARN    = module.encoding.mediaconvert_role_arn
    STREAMSTACK_SECRETS_BACKEND          = "aws"
    STREAMSTACK_SECRETS_PREFIX           = local.secrets_prefix
    STREAMSTACK_DATABASE_URL             = module.database.app_database_url
    STREAMSTACK_DATABASE_IAM_AUTH        = "true"
    STREAMSTACK_AUTO_MIGRATE             = "false"
    STREAMSTACK_PUBLIC_EDGE_URL          = module.cdn.public_edge_url
    STREAMSTACK_PUBLIC_API_URL           = var.public_api_url
    STREAMSTACK_LOG_LEVEL                = var.log_level
    STREAMSTACK_LOG_JSON                 = "true"
    STREAMSTACK_PUBLIC_INGEST_HOST       = var.live_ingest ? coalesce(var.ingest_host, module.live_ingest[0].nlb_dns_name) : null
    # The ports the API prints in a stream's rtmp_url and srt_url: the ingest's (1935, var.srt_port), or none
    # without an ingest service, so no publisher is handed a URL nothing listens on.
    STREAMSTACK_RTMP_PORT    = var.live_ingest ? null : "0"
    STREAMSTACK_SRT_PORT     = var.live_ingest ? tostring(var.srt_port) : "0"
    STREAMSTACK_LIVE_ENCODER = var.live_encoder
    # live_encoder = medialive: the account-level parts each stream's channel names (module live_managed)
    STREAMSTACK_MEDIALIVE_ROLE_ARN             = var.live_encoder == "medialive" ? module.live_managed[0].channel_role_arn : null
    STREAMSTACK_MEDIALIVE_INPUT_SECURITY_GROUP = var.live_encoder == "medialive" ? module.live_managed[0].input_security_group_id : null
    STREAMSTACK_MEDIAPACKAGE_CHANNEL_GROUP     = var.live_encoder == "medialive" ? module.live_managed[0].channel_group_name : null
    STREAMSTACK_CDN_DISTRIBUTION_ARN           = var.live_encoder == "medialive" ? module.cdn.distribution_arn : null
  }
  app_environment = { for k, v in local.app_environment_all : k => v if v != null }

  # The app user has no password: every new connection signs a fresh IAM token (rds-db:connect, iam.tf),
  # so RDS rotating the master password reaches nothing but the migrate task.
  # The migrate task alone connects as the master user, to migrate and to create the app user.
  migrate_environment = {
    STREAMSTACK_DATABASE_URL      = module.database.database_url
    STREAMSTACK_DATABASE_IAM_AUTH = "false"
  }
  # Injected by ECS from the RDS-managed secret at the task's start (it runs minutes, so a rotation cannot
  # overtake it). libpq reads PGPASSWORD: the password never appears in the URL, the task definition or the state.
  migrate_secrets = {
    PGPASSWORD = "${module.database.master_user_secret_arn}:password::"
  }
}

################################################################################
# Platform KMS key: log groups, alarm topic, secrets, RDS, DynamoDB, Lambda environment
################################################################################

# Principals of this account use the key only through these services (their IAM policies grant the service call).
data "aws_iam_policy_document" "platform_key" {
  #checkov:skip=CKV_AWS_109,CKV_AWS_111,CKV_AWS_356:A key policy: Resource "*" is this key, and only this account's principals use it, through the listed services.
  statement {
    sid       = "AccountPrincipalsThroughServices"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [for svc in ["secretsmanager", "rds", "dynamodb", "lambda"] : "${svc}.${local.region}.amazonaws.com"]
    }
  }
}

module "platform_key" {
  source = "./modules/kms_key"

  name              = local.name
  description       = "${local.name} platform data"
  log_group_pattern = "*"
  cloudwatch_alarms = true
  policy_documents  = [data.aws_iam_policy_document.platform_key.json]
  tags              = local.tags
}

################################################################################
# App secrets <env>-streamstack/<name> (names from streamstack.secrets; values put out of band, docs/deploy.md)
################################################################################

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:Rotated by the documented procedure (docs/deploy.md): signing keys must change together with CloudFront's key group, which a rotation Lambda cannot do.
  for_each = toset(["playback-signing-key", "webhook-signing-secret"])

  name                    = "${local.secrets_prefix}${each.value}"
  description             = "streamstack ${each.value}"
  kms_key_id              = module.platform_key.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = local.tags
}

################################################################################
# Modules
################################################################################

module "network" {
  source = "./modules/network"

  name                    = local.name
  cidr                    = var.vpc_cidr
  az_count                = var.az_count
  enable_nat_gateway      = var.enable_nat_gateway
  one_nat_gateway_per_az  = var.one_nat_gateway_per_az
  flow_log_retention_days = var.security_log_retention_days
  kms_key_arn             = module.platform_key.arn
  tags                    = local.tags
}

# CloudFront proves to the load balancer that a request for the edge came through it (and so through its
# WAF and geo restriction): a header only CloudFront sends. Generated once at the first apply and kept;
# rotate with `terraform apply -replace=terraform_data.origin_verify` (docs/deploy.md).
resource "terraform_data" "origin_verify" {
  input = uuid()

  lifecycle {
    ignore_changes = [input]
  }
}

locals {
  origin_verify_header = { name = "X-Origin-Verify", value = terraform_data.origin_verify.output }
}

module "cdn" {
  source = "./modules/cdn"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                 = local.name
  edge_origin_host     = var.edge_enabled ? var.edge_origin_host : null
  origin_verify_header = local.origin_verify_header
  aliases              = var.cdn_aliases
  acm_certificate_arn  = var.cdn_certificate_arn
  signing_public_keys  = var.signing_public_keys
  cors_allowed_origins = var.cors_allowed_origins
  # MediaPackage v2 harvest jobs write recordings (live_encoder = medialive).
  media_bucket_policy_documents = [for m in module.live_managed : m.harvest_bucket_policy]
  # Managed live playback: /out/v1/* from the channel group's endpoints, signed, through origin access control.
  managed_live               = var.live_encoder == "medialive"
  mediapackage_egress_domain = var.live_encoder == "medialive" ? module.live_managed[0].channel_group_egress_domain : null
  anonymous_ip_action        = var.anonymous_ip_action
  log_retention_days         = var.security_log_retention_days
  kms_key_arn                = module.platform_key.arn
  tags                       = local.tags
}

module "event_processor" {
  source = "./modules/event_processor"

  name                              = local.name
  media_bucket_name                 = module.cdn.media_bucket_name
  media_bucket_arn                  = module.cdn.media_bucket_arn
  max_receive_count                 = var.max_receive_count
  encode_visibility_timeout_seconds = var.encode_visibility_timeout_seconds
  lambda_package                    = var.lambda_package
  lambda_timeout_seconds            = var.lambda_timeout_seconds
  reserved_concurrency              = var.lambda_reserved_concurrency
  maximum_concurrency               = var.lambda_maximum_concurrency
  environment                       = local.app_environment
  handler_policies                  = local.handler_policies
  vpc_id                            = module.network.vpc_id
  vpc_cidr_block                    = module.network.vpc_cidr_block
  subnet_ids                        = module.network.private_subnet_ids
  idempotency_deletion_protection   = var.deletion_protection
  managed_live_channel_group        = var.live_encoder == "medialive" ? local.name : null
  log_retention_days                = var.log_retention_days
  kms_key_arn                       = module.platform_key.arn
  tags                              = local.tags
}

module "api_service" {
  source = "./modules/api_service"

  name                    = local.name
  vpc_id                  = module.network.vpc_id
  vpc_cidr_block          = module.network.vpc_cidr_block
  public_subnet_ids       = module.network.public_subnet_ids
  private_subnet_ids      = module.network.private_subnet_ids
  container_image         = var.container_image
  acm_certificate_arn     = var.api_certificate_arn
  alb_deletion_protection = var.deletion_protection
  edge_enabled            = var.edge_enabled
  edge_origin_host        = var.edge_origin_host
  origin_verify_header    = local.origin_verify_header
  environment             = local.app_environment
  migrate_environment     = local.migrate_environment
  migrate_secrets         = local.migrate_secrets
  migrate_arguments       = ["--app-user", module.database.app_username]
  execution_secret_arns   = [module.database.master_user_secret_arn]
  task_role_policies      = local.task_role_policies
  service_sizes           = var.service_sizes
  live_events             = var.live_events
  extra_prescale_services = local.ingest_prescale
  log_retention_days      = var.log_retention_days
  waf_log_retention_days  = var.security_log_retention_days
  kms_key_arn             = module.platform_key.arn
  tags                    = local.tags
}

# Live ingest on ECS (issue 13): the same image as `streamstack ingest`, one session per task, behind an NLB.
locals {
  # Built from names, not read from the module: the api's task definition must not wait for the ingest service.
  ingest_prescale = var.live_ingest ? {
    ingest = {
      resource_id = "service/${local.name}/${local.name}-ingest"
      min_tasks   = var.live_ingest_sizes.min_tasks
      max_tasks   = var.live_ingest_sizes.max_tasks
    }
  } : {}
}

module "live_ingest" {
  source = "./modules/live_ingest"
  count  = var.live_ingest ? 1 : 0

  name                = local.name
  vpc_id              = module.network.vpc_id
  vpc_cidr_block      = module.network.vpc_cidr_block
  public_subnet_ids   = module.network.public_subnet_ids
  private_subnet_ids  = module.network.private_subnet_ids
  cluster_name        = module.api_service.cluster_name
  cluster_arn         = module.api_service.cluster_arn
  container_image     = var.container_image
  execution_role_arn  = module.api_service.execution_role_arn
  execution_role_name = module.api_service.execution_role_name
  task_role_policy    = data.aws_iam_policy_document.ingest.json
  environment         = { for k, v in local.app_environment : k => v if k != "STREAMSTACK_PUBLIC_INGEST_HOST" }
  task_size           = { cpu = var.live_ingest_sizes.cpu, memory = var.live_ingest_sizes.memory }
  min_tasks           = var.live_ingest_sizes.min_tasks
  max_tasks           = var.live_ingest_sizes.max_tasks
  srt_port            = var.srt_port
  publisher_cidrs     = var.publisher_cidrs
  deletion_protection = var.deletion_protection
  log_retention_days  = var.log_retention_days
  kms_key_arn         = module.platform_key.arn
  tags                = local.tags
}

# Managed live (live_encoder = medialive): the account-level parts; the app creates each stream's MediaLive
# input and channel and its MediaPackage v2 channel and endpoint (streamstack.media.medialive).
module "live_managed" {
  source = "./modules/live_managed"
  count  = var.live_encoder == "medialive" ? 1 : 0

  name             = local.name
  publisher_cidrs  = var.publisher_cidrs
  media_bucket_arn = module.cdn.media_bucket_arn
  tags             = local.tags
}

module "encoding" {
  source = "./modules/encoding"

  name                = local.name
  cluster_name        = module.api_service.cluster_name
  worker_service_name = module.api_service.service_names["worker"]
  encode_queue_name   = module.event_processor.queue_names["encode"]
  min_workers         = var.service_sizes["worker"].min_capacity
  max_workers         = var.service_sizes["worker"].max_capacity
  backlog_per_task    = var.worker_concurrency
  enable_mediaconvert = var.encoder == "mediaconvert"
  media_bucket_arn    = module.cdn.media_bucket_arn
  tags                = local.tags
}

module "database" {
  source = "./modules/database"

  name       = local.name
  vpc_id     = module.network.vpc_id
  subnet_ids = module.network.private_subnet_ids
  allowed_security_groups = merge(
    { tasks = module.api_service.tasks_security_group_id, handlers = module.event_processor.security_group_id },
    var.live_ingest ? { ingest = module.live_ingest[0].security_group_id } : {},
  )
  instance_class        = var.db_instance_class
  multi_az              = var.db_multi_az
  deletion_protection   = var.deletion_protection
  backup_retention_days = var.db_backup_retention_days
  kms_key_arn           = module.platform_key.arn
  tags                  = local.tags
}

module "monitoring" {
  source = "./modules/monitoring"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                   = local.name
  alarm_emails           = var.alarm_emails
  alb_arn_suffix         = module.api_service.alb_arn_suffix
  distribution_id        = module.cdn.distribution_id
  queue_names            = module.event_processor.queue_names
  dlq_names              = module.event_processor.dlq_names
  function_names         = module.event_processor.function_names
  function_timeouts      = module.event_processor.function_timeouts
  worker_heartbeat_alarm = var.encoder == "ffmpeg" && var.service_sizes["worker"].min_capacity > 0
  managed_live           = var.live_encoder == "medialive"
  kms_key_arn            = module.platform_key.arn
  tags                   = local.tags
}
