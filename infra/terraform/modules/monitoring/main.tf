data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # The app's CloudWatch EMF namespace. Dimensions are Service plus the metric's labels,
  # except route, method and status_class (aggregated away); see streamstack.observability.metrics.
  app_namespace = "Streamstack"
  region        = data.aws_region.current.name

  alarm_actions = [aws_sns_topic.alarms.arn]
}

################################################################################
# Notification topics: alarms notify an SNS topic in their own region
################################################################################

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn

  tags = var.tags
}

resource "aws_sns_topic_subscription" "alarms_email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

data "aws_iam_policy_document" "alarms_us_east_1_key" {
  #checkov:skip=CKV_AWS_109,CKV_AWS_111,CKV_AWS_356:A key policy: Resource "*" is this key, and the account root administering it is the AWS default key policy.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchPublishesAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_kms_key" "alarms_us_east_1" {
  provider = aws.us_east_1

  description             = "${var.name} CloudFront alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alarms_us_east_1_key.json

  tags = var.tags
}

# CloudFront publishes its metrics in us-east-1 only, so its alarms and their topic live there.
resource "aws_sns_topic" "alarms_us_east_1" {
  provider = aws.us_east_1

  name              = "${var.name}-cloudfront-alarms"
  kms_master_key_id = aws_kms_key.alarms_us_east_1.arn

  tags = var.tags
}

resource "aws_sns_topic_subscription" "alarms_us_east_1_email" {
  provider = aws.us_east_1
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms_us_east_1.arn
  protocol  = "email"
  endpoint  = each.value
}

################################################################################
# Load balancer: 5XX count and rate, p99 latency
################################################################################

resource "aws_cloudwatch_metric_alarm" "alb_5xx_count" {
  alarm_name          = "${var.name}-alb-5xx-count"
  alarm_description   = "5XX responses (load balancer + targets) above ${var.alb_5xx_count_threshold} in 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = var.alb_5xx_count_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "total"
    expression  = "FILL(elb, 0) + FILL(target, 0)"
    label       = "5XX responses"
    return_data = true
  }

  metric_query {
    id = "elb"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "target"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      period      = 300
      stat        = "Sum"
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "alb_5xx_rate" {
  alarm_name          = "${var.name}-alb-5xx-rate"
  alarm_description   = "More than ${var.alb_5xx_rate_percent}% of requests answered 5XX over 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = var.alb_5xx_rate_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "100 * (FILL(elb, 0) + FILL(target, 0)) / requests"
    label       = "5XX rate (%)"
    return_data = true
  }

  metric_query {
    id = "elb"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "target"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      period      = 300
      stat        = "Sum"
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "alb_p99" {
  alarm_name          = "${var.name}-alb-target-response-p99"
  alarm_description   = "Target response time p99 above ${var.alb_p99_seconds}s for 15 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = { LoadBalancer = var.alb_arn_suffix }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alb_p99_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

################################################################################
# CloudFront (us-east-1): 5xxErrorRate and CacheHitRate
################################################################################

resource "aws_cloudwatch_metric_alarm" "cloudfront_5xx_rate" {
  provider = aws.us_east_1

  alarm_name          = "${var.name}-cloudfront-5xx-rate"
  alarm_description   = "CloudFront 5xxErrorRate above ${var.cloudfront_5xx_rate_percent}% for 10 minutes."
  namespace           = "AWS/CloudFront"
  metric_name         = "5xxErrorRate"
  dimensions          = { DistributionId = var.distribution_id, Region = "Global" }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.cloudfront_5xx_rate_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms_us_east_1.arn]
  ok_actions          = [aws_sns_topic.alarms_us_east_1.arn]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "cloudfront_cache_hit_rate" {
  provider = aws.us_east_1

  alarm_name          = "${var.name}-cloudfront-cache-hit-rate"
  alarm_description   = "CloudFront CacheHitRate below ${var.cloudfront_min_cache_hit_rate_percent}% for 30 minutes (origin load grows)."
  namespace           = "AWS/CloudFront"
  metric_name         = "CacheHitRate"
  dimensions          = { DistributionId = var.distribution_id, Region = "Global" }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 6
  datapoints_to_alarm = 6
  comparison_operator = "LessThanThreshold"
  threshold           = var.cloudfront_min_cache_hit_rate_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms_us_east_1.arn]
  ok_actions          = [aws_sns_topic.alarms_us_east_1.arn]

  tags = var.tags
}

################################################################################
# Queues: any message in a DLQ, oldest message age
################################################################################

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = var.dlq_names

  alarm_name          = "${var.name}-${each.key}-dlq-not-empty"
  alarm_description   = "Messages in ${each.value}: they failed ${each.key} processing repeatedly. Inspect, fix, redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  for_each = var.queue_names

  alarm_name          = "${var.name}-${each.key}-oldest-message-age"
  alarm_description   = "Oldest message in ${each.value} older than ${lookup(var.oldest_message_age_seconds, each.key, 900)}s: consumers are stuck or too few."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = lookup(var.oldest_message_age_seconds, each.key, 900)
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

################################################################################
# Lambda: errors, duration p99, throttles
################################################################################

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = var.function_names

  alarm_name          = "${var.name}-${each.key}-errors"
  alarm_description   = "${each.value} failed invocations (whole-batch failures; per-record failures show in the DLQ)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_duration_p99" {
  for_each = var.function_names

  alarm_name          = "${var.name}-${each.key}-duration-p99"
  alarm_description   = "${each.value} duration p99 above ${var.lambda_duration_p99_fraction * 100}% of its timeout."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = each.value }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.function_timeouts[each.key] * 1000 * var.lambda_duration_p99_fraction
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  for_each = var.function_names

  alarm_name          = "${var.name}-${each.key}-throttles"
  alarm_description   = "${each.value} throttled: reserved concurrency or the event source's maximum_concurrency is too low."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

################################################################################
# Encoding (metrics the app emits through EMF)
################################################################################

# ffmpeg workers count failures as Service=worker; with MediaConvert, on_encoding_event counts them as Service=lambda.
resource "aws_cloudwatch_metric_alarm" "encoding_failures" {
  alarm_name          = "${var.name}-encoding-failures"
  alarm_description   = "More than ${var.encoding_failures_threshold} encoding jobs failed in 15 minutes."
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = var.encoding_failures_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "failed"
    expression  = "FILL(worker, 0) + FILL(handler, 0)"
    label       = "Failed encoding jobs"
    return_data = true
  }

  metric_query {
    id = "worker"
    metric {
      namespace   = local.app_namespace
      metric_name = "streamstack_encoding_jobs_total"
      dimensions  = { Service = "worker", state = "failed" }
      period      = 900
      stat        = "Sum"
    }
  }

  metric_query {
    id = "handler"
    metric {
      namespace   = local.app_namespace
      metric_name = "streamstack_encoding_jobs_total"
      dimensions  = { Service = "lambda", state = "failed" }
      period      = 900
      stat        = "Sum"
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "worker_heartbeat" {
  count = var.worker_heartbeat_alarm ? 1 : 0

  alarm_name          = "${var.name}-worker-heartbeat-missing"
  alarm_description   = "No encode worker reported a heartbeat for 10 minutes."
  namespace           = local.app_namespace
  metric_name         = "streamstack_worker_heartbeat_timestamp_seconds"
  dimensions          = { Service = "worker" }
  statistic           = "SampleCount"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

################################################################################
# Dashboard
################################################################################

locals {
  queue_depth_metrics = flatten([
    for role, q in var.queue_names : [
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q, { label = role }],
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dlq_names[role], { label = "${role} DLQ" }],
    ]
  ])

  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title  = "API: requests and 5XX (load balancer)"
        region = local.region
        stat   = "Sum"
        period = 60
        metrics = [
          ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix],
          ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
          ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
          [local.app_namespace, "streamstack_api_5xx_total", "Service", "api", { label = "app-counted 5xx" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title  = "API latency"
        region = local.region
        period = 60
        metrics = [
          ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p50", label = "ALB p50" }],
          ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p99", label = "ALB p99" }],
          [local.app_namespace, "streamstack_api_request_duration_seconds", "Service", "api", { stat = "p99", label = "app p99" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title  = "CDN: cache hit rate and 5xx rate (%)"
        region = "us-east-1"
        stat   = "Average"
        period = 300
        metrics = [
          ["AWS/CloudFront", "CacheHitRate", "DistributionId", var.distribution_id, "Region", "Global"],
          ["AWS/CloudFront", "5xxErrorRate", "DistributionId", var.distribution_id, "Region", "Global"],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title  = "Edge: requests by cache result, hit ratio, origin fetch p99"
        region = local.region
        period = 60
        metrics = [
          [local.app_namespace, "streamstack_edge_requests_total", "Service", "edge", "cache_result", "hit", { stat = "Sum" }],
          [local.app_namespace, "streamstack_edge_requests_total", "Service", "edge", "cache_result", "miss", { stat = "Sum" }],
          [local.app_namespace, "streamstack_edge_requests_total", "Service", "edge", "cache_result", "coalesced", { stat = "Sum" }],
          [local.app_namespace, "streamstack_edge_cache_hit_ratio", "Service", "edge", { stat = "Average", yAxis = "right" }],
          [local.app_namespace, "streamstack_edge_origin_fetch_seconds", "Service", "edge", { stat = "p99", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = {
        title  = "Encoding jobs by state"
        region = local.region
        stat   = "Sum"
        period = 300
        metrics = [
          for s in ["queued", "running", "completed", "failed"] :
          [local.app_namespace, "streamstack_encoding_jobs_total", "Service", "worker", "state", s]
        ]
      }
    },
    {
      type = "metric", x = 12, y = 12, width = 12, height = 6
      properties = {
        title  = "Encoding: job duration and time to playable (p50, p99)"
        region = local.region
        period = 300
        metrics = [
          [local.app_namespace, "streamstack_encoding_job_duration_seconds", "Service", "worker", { stat = "p50" }],
          [local.app_namespace, "streamstack_encoding_job_duration_seconds", "Service", "worker", { stat = "p99" }],
          [local.app_namespace, "streamstack_time_to_playable_seconds", "Service", "worker", { stat = "p50" }],
          [local.app_namespace, "streamstack_time_to_playable_seconds", "Service", "worker", { stat = "p99" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 18, width = 12, height = 6
      properties = {
        title   = "Queues and DLQs: visible messages"
        region  = local.region
        stat    = "Maximum"
        period  = 60
        metrics = local.queue_depth_metrics
      }
    },
    {
      type = "metric", x = 12, y = 18, width = 12, height = 6
      properties = {
        title  = "Queues: age of oldest message (s)"
        region = local.region
        stat   = "Maximum"
        period = 60
        metrics = [
          for role, q in var.queue_names : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q, { label = role }]
        ]
      }
    },
    {
      type = "metric", x = 0, y = 24, width = 12, height = 6
      properties = {
        title  = "Handlers (Lambda): errors, throttles, duration p99"
        region = local.region
        period = 300
        metrics = flatten([
          for h, f in var.function_names : [
            ["AWS/Lambda", "Errors", "FunctionName", f, { stat = "Sum", label = "${h} errors" }],
            ["AWS/Lambda", "Throttles", "FunctionName", f, { stat = "Sum", label = "${h} throttles" }],
            ["AWS/Lambda", "Duration", "FunctionName", f, { stat = "p99", label = "${h} p99 ms", yAxis = "right" }],
          ]
        ])
      }
    },
    {
      type = "metric", x = 12, y = 24, width = 12, height = 6
      properties = {
        title  = "Handlers (app): duration and errors by event type"
        region = local.region
        period = 300
        metrics = [
          [{ expression = "SEARCH('{${local.app_namespace},Service,event_type} MetricName=\"streamstack_handler_duration_seconds\"', 'p99', 300)", id = "duration", label = "p99" }],
          [{ expression = "SEARCH('{${local.app_namespace},Service,event_type} MetricName=\"streamstack_handler_errors_total\"', 'Sum', 300)", id = "errors", label = "errors" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 30, width = 12, height = 6
      properties = {
        title  = "Webhooks"
        region = local.region
        period = 300
        metrics = [
          [{ expression = "SEARCH('{${local.app_namespace},Service} MetricName=\"streamstack_webhook_attempts_total\"', 'Sum', 300)", id = "attempts", label = "attempts" }],
          [{ expression = "SEARCH('{${local.app_namespace},Service} MetricName=\"streamstack_webhook_failures_total\"', 'Sum', 300)", id = "failures", label = "failures" }],
          [{ expression = "SEARCH('{${local.app_namespace},Service} MetricName=\"streamstack_webhook_delivery_seconds\"', 'p99', 300)", id = "latency", label = "delivery p99", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 30, width = 12, height = 6
      properties = {
        title  = "Live: ingest bitrate and edge lag"
        region = local.region
        period = 60
        metrics = [
          [{ expression = "SEARCH('{${local.app_namespace},Service} MetricName=\"streamstack_live_ingest_bitrate_bits\"', 'Average', 60)", id = "bitrate", label = "ingest bitrate" }],
          [{ expression = "SEARCH('{${local.app_namespace},Service} MetricName=\"streamstack_live_edge_lag_seconds\"', 'Maximum', 60)", id = "lag", label = "edge lag" }],
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
