data "aws_caller_identity" "current" {}

locals {
  worker_resource_id = "service/${var.cluster_name}/${var.worker_service_name}"
}

################################################################################
# Worker scaling on backlog per task: visible encode messages / running workers
################################################################################

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = local.worker_resource_id
  min_capacity       = var.min_workers
  max_capacity       = var.max_workers

  tags = var.tags
}

resource "aws_appautoscaling_policy" "backlog_per_task" {
  name               = "${var.name}-worker-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension
  resource_id        = aws_appautoscaling_target.worker.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.backlog_per_task
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = 60

    customized_metric_specification {
      metrics {
        id          = "backlog"
        label       = "Visible encode messages"
        return_data = false

        metric_stat {
          stat = "Sum"

          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"

            dimensions {
              name  = "QueueName"
              value = var.encode_queue_name
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "Running worker tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"

            dimensions {
              name  = "ClusterName"
              value = var.cluster_name
            }

            dimensions {
              name  = "ServiceName"
              value = var.worker_service_name
            }
          }
        }
      }

      # With no task running, the whole backlog counts against one task, so scaling starts from zero.
      metrics {
        id          = "backlog_per_task"
        label       = "Backlog per task"
        expression  = "IF(FILL(tasks, 0) > 0, backlog / tasks, backlog)"
        return_data = true
      }
    }
  }
}

################################################################################
# Optional MediaConvert backend
################################################################################

data "aws_iam_policy_document" "mediaconvert_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["mediaconvert.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "mediaconvert" {
  count = var.enable_mediaconvert ? 1 : 0

  name               = "${var.name}-mediaconvert"
  assume_role_policy = data.aws_iam_policy_document.mediaconvert_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "mediaconvert" {
  statement {
    sid       = "ReadSources"
    actions   = ["s3:GetObject"]
    resources = ["${var.media_bucket_arn}/sources/*"]
  }

  statement {
    sid       = "WriteAssets"
    actions   = ["s3:PutObject"]
    resources = ["${var.media_bucket_arn}/assets/*"]
  }
}

resource "aws_iam_role_policy" "mediaconvert" {
  count = var.enable_mediaconvert ? 1 : 0

  name   = "read-sources-write-assets"
  role   = aws_iam_role.mediaconvert[0].id
  policy = data.aws_iam_policy_document.mediaconvert.json
}
