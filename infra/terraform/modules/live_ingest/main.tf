data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  rtmp_port = 1935
  srt       = var.srt_port > 0
  # The ingest process on the task: nginx-rtmp on 1935 (and SRT when on), one live session per task, sessions
  # handed over between tasks (a publisher's reconnect lands on any of them), and a drain a little shorter
  # than the stop timeout: what is still live then is handed over within the last 15 s, before SIGKILL.
  container_defaults = {
    STREAMSTACK_API_HOST           = "0.0.0.0"
    STREAMSTACK_RTMP_PORT          = tostring(local.rtmp_port)
    STREAMSTACK_SRT_PORT           = tostring(var.srt_port)
    STREAMSTACK_LIVE_MAX_SESSIONS  = "1"
    STREAMSTACK_LIVE_HAND_OVER     = "true"
    STREAMSTACK_LIVE_DRAIN_SECONDS = tostring(var.stop_timeout_seconds - 15)
  }
  container_environment = merge(var.environment, local.container_defaults)
  listeners = merge(
    { rtmp = { protocol = "TCP", port = local.rtmp_port } },
    local.srt ? { srt = { protocol = "UDP", port = var.srt_port } } : {},
  )
}

################################################################################
# Logs and roles: the task role is the app policy of iam.tf; the shared execution role writes these logs
################################################################################

resource "aws_cloudwatch_log_group" "ingest" {
  name              = "/ecs/${var.name}/ingest"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "execution_logs" {
  statement {
    sid       = "IngestLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.ingest.arn}:*"]
  }
}

resource "aws_iam_role_policy" "execution_logs" {
  name   = "write-ingest-logs"
  role   = var.execution_role_name
  policy = data.aws_iam_policy_document.execution_logs.json
}

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

resource "aws_iam_role" "task" {
  name               = "${var.name}-ingest-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy" "task" {
  name   = "streamstack-ingest"
  role   = aws_iam_role.task.id
  policy = var.task_role_policy
}

################################################################################
# Task definition and service: one live session per task, drained on SIGTERM
################################################################################

resource "aws_ecs_task_definition" "ingest" {
  family                   = "${var.name}-ingest"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_size.cpu
  memory                   = var.task_size.memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "scratch"
  }

  volume {
    name = "data"
  }

  container_definitions = jsonencode([{
    name                   = "ingest"
    image                  = var.container_image
    command                = ["ingest"]
    essential              = true
    readonlyRootFilesystem = true
    # SIGTERM comes after the NLB's deregistration delay; the process then drains for stop_timeout - 15 s and
    # hands what is still live over to the publishers' reconnects (to other tasks) in the 15 s left.
    stopTimeout  = var.stop_timeout_seconds
    portMappings = [for l in values(local.listeners) : { containerPort = l.port, protocol = lower(l.protocol) }]
    environment  = [for k in sort(keys(local.container_environment)) : { name = k, value = local.container_environment[k] }]
    mountPoints = [
      { sourceVolume = "scratch", containerPath = "/tmp", readOnly = false },
      { sourceVolume = "data", containerPath = "/var/lib/streamstack", readOnly = false },
    ]
    healthCheck = {
      command     = ["CMD", "python", "-c", "import socket; socket.create_connection(('127.0.0.1', ${local.rtmp_port}), timeout=3).close()"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.ingest.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "ingest"
      }
    }
  }])

  tags = var.tags
}

resource "aws_ecs_service" "ingest" {
  name                    = "${var.name}-ingest"
  cluster                 = var.cluster_arn
  task_definition         = aws_ecs_task_definition.ingest.arn
  desired_count           = var.min_tasks
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  health_check_grace_period_seconds = 60

  # On demand only: a Spot interruption would cut a live event.
  capacity_provider_strategy {
    capacity_provider = "FARGATE"
    base              = 0
    weight            = 1
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
    for_each = local.listeners
    content {
      target_group_arn = aws_lb_target_group.ingest[load_balancer.key].arn
      container_name   = "ingest"
      container_port   = load_balancer.value.port
    }
  }

  lifecycle {
    ignore_changes = [desired_count] # Application Auto Scaling (pre-scaling for scheduled streams) owns it
  }

  tags = var.tags

  depends_on = [aws_lb_listener.ingest]
}

resource "aws_appautoscaling_target" "ingest" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.ingest.name}"
  min_capacity       = var.min_tasks
  max_capacity       = var.max_tasks

  tags = var.tags
}

################################################################################
# Network Load Balancer: RTMP (TCP) and SRT (UDP) from publishers to the tasks
################################################################################

resource "aws_security_group" "nlb" {
  name        = "${var.name}-ingest-nlb"
  description = "Live ingest load balancer of streamstack"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-ingest-nlb" })
}

resource "aws_vpc_security_group_ingress_rule" "nlb" {
  for_each = { for pair in setproduct(keys(local.listeners), var.publisher_cidrs) : "${pair[0]}-${pair[1]}" => pair }

  security_group_id = aws_security_group.nlb.id
  description       = "${upper(each.value[0])} publishers"
  cidr_ipv4         = each.value[1]
  ip_protocol       = lower(local.listeners[each.value[0]].protocol)
  from_port         = local.listeners[each.value[0]].port
  to_port           = local.listeners[each.value[0]].port

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_tasks" {
  for_each = local.listeners

  security_group_id            = aws_security_group.nlb.id
  description                  = "${upper(each.key)} to ingest tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = lower(each.value.protocol)
  from_port                    = each.value.port
  to_port                      = each.value.port

  tags = var.tags
}

resource "aws_security_group" "tasks" {
  name        = "${var.name}-ingest-tasks"
  description = "Live ingest tasks of streamstack"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-ingest-tasks" })
}

# RTMP and the health checks arrive from the load balancer; SRT (UDP) keeps the publisher's address, so it is
# allowed from the publishers' ranges themselves.
resource "aws_vpc_security_group_ingress_rule" "tasks_rtmp" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "RTMP and health checks from the load balancer"
  referenced_security_group_id = aws_security_group.nlb.id
  ip_protocol                  = "tcp"
  from_port                    = local.rtmp_port
  to_port                      = local.rtmp_port

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "tasks_srt" {
  for_each = local.srt ? toset(var.publisher_cidrs) : toset([])

  security_group_id = aws_security_group.tasks.id
  description       = "SRT from publishers (UDP keeps the client address)"
  cidr_ipv4         = each.value
  ip_protocol       = "udp"
  from_port         = var.srt_port
  to_port           = var.srt_port

  tags = var.tags
}

# Parts and segments to S3 and AWS APIs (https), the catalog (PostgreSQL) inside the VPC.
resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to S3 and AWS APIs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443

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

resource "aws_lb" "ingest" {
  #checkov:skip=CKV_AWS_91:NLB access logs record TLS listeners only; RTMP and SRT are plain TCP and UDP listeners, whose connections the VPC flow logs record.
  name                             = substr("${var.name}-ingest", 0, 32)
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = var.public_subnet_ids
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection

  tags = var.tags
}

resource "aws_lb_target_group" "ingest" {
  for_each = local.listeners

  name        = substr("${var.name}-ingest-${each.key}", 0, 32)
  port        = each.value.port
  protocol    = each.value.protocol
  target_type = "ip"
  vpc_id      = var.vpc_id
  # A stopping task keeps its publishers' connections this long (new ones go to other tasks); ECS sends
  # SIGTERM only after it, and the ingest then drains and hands what is left over. Sessions that end within
  # the delay end without a discontinuity; a shorter delay makes deployments faster, with more hand-overs.
  deregistration_delay = var.deregistration_delay_seconds

  connection_termination = false

  # Both listeners are checked on the RTMP port: nginx accepting connections is the ingest being up.
  health_check {
    protocol            = "TCP"
    port                = tostring(local.rtmp_port)
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "ingest" {
  #checkov:skip=CKV_AWS_2,CKV_AWS_103:RTMP (TCP 1935) and SRT (UDP) are not HTTP and cannot be TLS listeners; SRT encrypts with its own AES passphrase, and RTMP's stream key is the credential, as at every RTMP ingest.
  for_each = local.listeners

  load_balancer_arn = aws_lb.ingest.arn
  port              = each.value.port
  protocol          = each.value.protocol

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.ingest[each.key].arn
  }

  tags = var.tags
}
