data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_elb_service_account" "current" {}

locals {
  # What each service runs: the image's entry points (deploy/Dockerfile) and the port it listens on.
  containers = {
    api     = { command = ["api"], port = 8000 }
    worker  = { command = ["worker"], port = null }
    edge    = { command = ["edge"], port = 8001 }
    migrate = { command = ["db", "upgrade"], port = null }
  }
  # Long-running services; migrate is a one-off task (`aws ecs run-task`), never a service.
  services = toset(var.edge_enabled ? ["api", "worker", "edge"] : ["api", "worker"])
  # Services behind the load balancer, scaled on requests and CPU and pre-scaled for live events.
  web_services = toset(var.edge_enabled ? ["api", "edge"] : ["api"])

  # Listen on the task's interface; ports match the containers above.
  container_defaults = {
    STREAMSTACK_API_HOST  = "0.0.0.0"
    STREAMSTACK_API_PORT  = "8000"
    STREAMSTACK_EDGE_PORT = "8001"
    # The services the api pre-scales for a scheduled live stream (docs/capacity.md), with their normal
    # bounds; names are built, not read from the resources, which depend on this task definition.
    STREAMSTACK_LIVE_PRESCALE_SERVICES = jsonencode(merge({
      for s in local.web_services : s => {
        resource_id = "service/${var.name}/${var.name}-${s}"
        min_tasks   = var.service_sizes[s].min_capacity
        max_tasks   = var.service_sizes[s].max_capacity
      }
    }, var.extra_prescale_services))
  }
  container_environment = merge(var.environment, local.container_defaults)
  # Only the migrate task holds the master credential; the services connect as the app user.
  task_environment = { for name in keys(local.containers) : name => name == "migrate" ? merge(local.container_environment, var.migrate_environment) : local.container_environment }
  task_secrets     = { for name in keys(local.containers) : name => name == "migrate" ? var.migrate_secrets : {} }

  viewers_per_task = { api = var.viewers_per_api_task, edge = var.viewers_per_edge_task }

  on_demand = { FARGATE = { base = 0, weight = 1 } }
  capacity_providers = {
    api  = local.on_demand
    edge = local.on_demand
    worker = var.worker_spot_weight == 0 ? local.on_demand : {
      FARGATE      = { base = var.worker_on_demand_base, weight = 0 }
      FARGATE_SPOT = { base = 0, weight = var.worker_spot_weight }
    }
  }

  live_event_actions = merge([
    for svc in local.web_services : {
      for e in var.live_events : "${svc}-${e.name}" => {
        service  = svc
        event    = e.name
        prescale = formatdate("YYYY-MM-DD'T'hh:mm:ss", timeadd(e.start_time, "-${var.live_event_lead_minutes}m"))
        restore  = formatdate("YYYY-MM-DD'T'hh:mm:ss", timeadd(e.start_time, "${e.duration_minutes}m"))
        min      = max(var.service_sizes[svc].min_capacity, ceil(e.expected_viewers / local.viewers_per_task[svc]))
      }
    }
  ]...)

  alb_log_prefix = "alb"
}

################################################################################
# Cluster and logs
################################################################################

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "service" {
  for_each = local.containers

  name              = "/ecs/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

################################################################################
# IAM: the execution role pulls the image and injects secrets; task roles are what the app may do
################################################################################

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

locals {
  # The ECR repository of container_image (<account>.dkr.ecr.<region>.amazonaws.com/<name>[:tag|@digest]):
  # the execution role pulls from that repository only. Null for an image outside ECR (public registries).
  image_repository = try(regex("^(\\d{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com/([^:@]+)", var.container_image), null)
  image_repository_arn = local.image_repository == null ? null : format(
    "arn:%s:ecr:%s:%s:repository/%s",
    data.aws_partition.current.partition, local.image_repository[1], local.image_repository[0], local.image_repository[2],
  )
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-ecs-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions.
  }

  dynamic "statement" {
    for_each = local.image_repository_arn == null ? [] : [local.image_repository_arn]
    content {
      sid       = "EcrPull"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for g in aws_cloudwatch_log_group.service : "${g.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(var.execution_secret_arns) > 0 ? [1] : []
    content {
      sid       = "InjectSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = var.execution_secret_arns
    }
  }

  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-image-write-logs-inject-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  for_each = local.containers

  name               = "${var.name}-${each.key}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy" "task" {
  for_each = var.task_role_policies

  name   = "streamstack-${each.key}"
  role   = aws_iam_role.task[each.key].id
  policy = each.value
}

################################################################################
# Task definitions (one image, four entry points) and services
################################################################################

resource "aws_ecs_task_definition" "this" {
  for_each = local.containers

  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.service_sizes[each.key].cpu
  memory                   = var.service_sizes[each.key].memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  ephemeral_storage {
    size_in_gib = each.key == "worker" ? var.worker_ephemeral_storage_gib : 21
  }

  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = var.container_image
    command                = each.key == "migrate" ? concat(each.value.command, var.migrate_arguments) : each.value.command
    essential              = true
    readonlyRootFilesystem = true
    # SIGTERM, then up to 120 s: the API drains requests, a worker gives its message back to the queue.
    stopTimeout  = 120
    portMappings = each.value.port == null ? [] : [{ containerPort = each.value.port, protocol = "tcp" }]
    environment  = [for k in sort(keys(local.task_environment[each.key])) : { name = k, value = local.task_environment[each.key][k] }]
    secrets      = [for k in sort(keys(local.task_secrets[each.key])) : { name = k, valueFrom = local.task_secrets[each.key][k] }]
    mountPoints  = [{ sourceVolume = "scratch", containerPath = var.scratch_path, readOnly = false }]
    healthCheck = each.value.port == null ? null : {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${each.value.port}/healthz', timeout=3)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = each.key
      }
    }
  }])

  tags = var.tags
}

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "Fargate tasks of streamstack"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-tasks" })
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  for_each = { for s in local.web_services : s => local.containers[s].port }

  security_group_id            = aws_security_group.tasks.id
  description                  = "${each.key} from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value

  tags = var.tags
}

# Tasks reach AWS APIs, webhook receivers and URL imports (http/https) and RDS inside the VPC.
resource "aws_vpc_security_group_egress_rule" "tasks_web" {
  for_each = toset(["80", "443"])

  security_group_id = aws_security_group.tasks.id
  description       = "Outbound web on ${each.value}"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "tasks_postgres" {
  security_group_id = aws_security_group.tasks.id
  description       = "PostgreSQL inside the VPC"
  cidr_ipv4         = var.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  for_each = local.services

  name                    = "${var.name}-${each.key}"
  cluster                 = aws_ecs_cluster.this.id
  task_definition         = aws_ecs_task_definition.this[each.key].arn
  desired_count           = var.service_sizes[each.key].desired_count
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  health_check_grace_period_seconds = contains(local.web_services, each.key) ? 60 : null

  # Workers run mostly on FARGATE_SPOT: an interrupted encode goes back to the queue (SIGTERM, 2 min
  # notice) and resumes elsewhere. The web services and the first worker(s) stay on FARGATE.
  dynamic "capacity_provider_strategy" {
    for_each = local.capacity_providers[each.key]
    content {
      capacity_provider = capacity_provider_strategy.key
      base              = capacity_provider_strategy.value.base
      weight            = capacity_provider_strategy.value.weight
    }
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = contains(local.web_services, each.key) ? [1] : []
    content {
      target_group_arn = aws_lb_target_group.this[each.key].arn
      container_name   = each.key
      container_port   = local.containers[each.key].port
    }
  }

  lifecycle {
    # Autoscaling owns the running count after creation.
    ignore_changes = [desired_count]
  }

  tags = var.tags

  depends_on = [aws_lb_listener.https]
}

################################################################################
# Load balancer
################################################################################

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Internet-facing load balancer of streamstack"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  for_each = { for pair in setproduct(["80", "443"], var.alb_ingress_cidrs) : "${pair[0]}-${pair[1]}" => pair }

  security_group_id = aws_security_group.alb.id
  description       = "HTTP(S) on ${each.value[0]} (80 only redirects)"
  cidr_ipv4         = each.value[1]
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value[0])
  to_port           = tonumber(each.value[0])

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  for_each = { for s in local.web_services : s => local.containers[s].port }

  security_group_id            = aws_security_group.alb.id
  description                  = "To ${each.key} tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value

  tags = var.tags
}

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_76:Log4j protection (AWSManagedRulesKnownBadInputsRuleSet) is attached; AWSManagedRulesAnonymousIpList only counts here, since blocking hosting-provider IPs would stop integrators' servers calling the API.
  name                       = substr(var.name, 0, 32)
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  idle_timeout               = 120

  access_logs {
    enabled = true
    bucket  = module.alb_logs_bucket.id
    prefix  = local.alb_log_prefix
  }

  tags = var.tags

  depends_on = [module.alb_logs_bucket]
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the load balancer; targets are Fargate tasks in private subnets serving plain HTTP inside the VPC.
  for_each = local.web_services

  name                 = substr("${var.name}-${each.key}", 0, 32)
  port                 = local.containers[each.key].port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 60

  health_check {
    path                = each.key == "api" ? "/readyz" : var.edge_health_check_path
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = each.key != "edge" || var.edge_origin_host != null
      error_message = "edge_enabled needs edge_origin_host: the listener routes that host to the edge."
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.acm_certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this["api"].arn
  }

  tags = var.tags
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "edge" {
  count = var.edge_enabled && var.edge_origin_host != null ? 1 : 0

  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this["edge"].arn
  }

  condition {
    host_header {
      values = [var.edge_origin_host]
    }
  }

  # Only CloudFront sends it: the edge is not reachable around the CDN's WAF and geo restriction.
  condition {
    http_header {
      http_header_name = var.origin_verify_header.name
      values           = [var.origin_verify_header.value]
    }
  }

  tags = var.tags
}

# The edge host without CloudFront's header: refused here rather than falling through to the API.
resource "aws_lb_listener_rule" "edge_direct" {
  count = var.edge_enabled && var.edge_origin_host != null ? 1 : 0

  listener_arn = aws_lb_listener.https.arn
  priority     = 20

  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "Playback is served through the CDN."
      status_code  = "403"
    }
  }

  condition {
    host_header {
      values = [var.edge_origin_host]
    }
  }

  tags = var.tags
}

################################################################################
# Regional WAF on the load balancer (the API is reached directly, not through CloudFront)
################################################################################

module "waf" {
  source = "../web_acl"

  name  = "${var.name}-alb"
  scope = "REGIONAL"
  # tus PATCH and multipart bodies are media chunks far above the common rule set's 8 KB body limit.
  common_rules_to_count = ["SizeRestrictions_BODY"]
  # Observe only: integrators' servers on hosting-provider IPs call the API.
  anonymous_ip_action = "count"
  rate_limit          = var.waf_rate_limit
  # CloudFront's requests for the edge carry the origin header: its WAF already limits each viewer's IP,
  # while here they arrive from a few CloudFront addresses that a per-IP rule would block in a spike.
  rate_limit_exempt_header = var.origin_verify_header
  log_retention_days       = var.waf_log_retention_days
  kms_key_arn              = var.kms_key_arn
  tags                     = var.tags
}

resource "aws_wafv2_web_acl_association" "alb" {
  resource_arn = aws_lb.this.arn
  web_acl_arn  = module.waf.arn
}

################################################################################
# ALB access logs bucket (ALB log delivery supports SSE-S3 only)
################################################################################

module "alb_logs_bucket" {
  source = "../private_bucket"

  name = "${var.name}-alb-logs-${data.aws_caller_identity.current.account_id}"
  lifecycle_rules = [
    { id = "expire-access-logs", expiration_days = var.alb_log_retention_days, noncurrent_version_days = 7 },
  ]
  policy_documents = [data.aws_iam_policy_document.alb_logs.json]
  tags             = var.tags
}

data "aws_iam_policy_document" "alb_logs" {
  statement {
    sid       = "AlbLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${module.alb_logs_bucket.arn}/${local.alb_log_prefix}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  # Regions opened before August 2022 deliver as the regional ELB account instead of the service principal.
  statement {
    sid       = "AlbLogDeliveryLegacyRegions"
    actions   = ["s3:PutObject"]
    resources = ["${module.alb_logs_bucket.arn}/${local.alb_log_prefix}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }
}

################################################################################
# Autoscaling: requests and CPU, plus scheduled pre-scaling for announced live events
################################################################################

resource "aws_appautoscaling_target" "web" {
  for_each = local.web_services

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.this[each.key].name}"
  min_capacity       = var.service_sizes[each.key].min_capacity
  max_capacity       = var.service_sizes[each.key].max_capacity

  tags = var.tags
}

resource "aws_appautoscaling_policy" "requests" {
  for_each = local.web_services

  name               = "${var.name}-${each.key}-requests-per-target"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.web[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.web[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.web[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.this[each.key].arn_suffix}"
    }
  }
}

resource "aws_appautoscaling_policy" "cpu" {
  for_each = local.web_services

  name               = "${var.name}-${each.key}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.web[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.web[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.web[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_scheduled_action" "live_event_prescale" {
  for_each = local.live_event_actions

  name               = "${var.name}-${each.key}-prescale"
  service_namespace  = aws_appautoscaling_target.web[each.value.service].service_namespace
  scalable_dimension = aws_appautoscaling_target.web[each.value.service].scalable_dimension
  resource_id        = aws_appautoscaling_target.web[each.value.service].resource_id
  schedule           = "at(${each.value.prescale})"
  timezone           = "UTC"

  scalable_target_action {
    min_capacity = each.value.min
    max_capacity = max(each.value.min, var.service_sizes[each.value.service].max_capacity)
  }
}

resource "aws_appautoscaling_scheduled_action" "live_event_restore" {
  for_each = local.live_event_actions

  name               = "${var.name}-${each.key}-restore"
  service_namespace  = aws_appautoscaling_target.web[each.value.service].service_namespace
  scalable_dimension = aws_appautoscaling_target.web[each.value.service].scalable_dimension
  resource_id        = aws_appautoscaling_target.web[each.value.service].resource_id
  schedule           = "at(${each.value.restore})"
  timezone           = "UTC"

  scalable_target_action {
    min_capacity = var.service_sizes[each.value.service].min_capacity
    max_capacity = var.service_sizes[each.value.service].max_capacity
  }

  # Two scheduled actions on one target cannot be written at once.
  depends_on = [aws_appautoscaling_scheduled_action.live_event_prescale]
}
