data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name
}

################################################################################
# Alarms (what they watch: alarms.tf), each notifying an SNS topic in its own region
################################################################################

module "alarms" {
  source = "./alarms"

  name        = var.name
  alarms      = local.alarms
  topic_name  = "${var.name}-alarms"
  kms_key_arn = var.kms_key_arn
  emails      = var.alarm_emails
  tags        = var.tags
}

# CloudFront publishes its metrics in us-east-1 only, so its alarms, their topic and its key live there.
module "cloudfront_alarms_key" {
  source = "../kms_key"
  providers = {
    aws = aws.us_east_1
  }

  name              = "${var.name}-cloudfront-alarms"
  description       = "${var.name} CloudFront alarm topic"
  cloudwatch_alarms = true
  tags              = var.tags
}

module "cloudfront_alarms" {
  source = "./alarms"
  providers = {
    aws = aws.us_east_1
  }

  name        = var.name
  alarms      = local.cloudfront_alarms
  topic_name  = "${var.name}-cloudfront-alarms"
  kms_key_arn = module.cloudfront_alarms_key.arn
  emails      = var.alarm_emails
  tags        = var.tags
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

  # Panels in reading order, two per row; each is a CloudWatch metric widget in this region unless it says otherwise.
  dashboard_panels = [
    {
      title  = "API: requests and 5XX (load balancer)"
      stat   = "Sum"
      period = 60
      metrics = [
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix],
        ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
        ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
        [local.app_namespace, "streamstack_api_5xx_total", "Service", "api", { label = "app-counted 5xx" }],
      ]
    },
    {
      title  = "API latency"
      period = 60
      metrics = [
        ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p50", label = "ALB p50" }],
        ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p99", label = "ALB p99" }],
        [local.app_namespace, "streamstack_api_request_duration_seconds", "Service", "api", { stat = "p99", label = "app p99" }],
      ]
    },
    {
      title  = "CDN: cache hit rate and 5xx rate (%)"
      region = "us-east-1"
      stat   = "Average"
      period = 300
      metrics = [
        ["AWS/CloudFront", "CacheHitRate", "DistributionId", var.distribution_id, "Region", "Global"],
        ["AWS/CloudFront", "5xxErrorRate", "DistributionId", var.distribution_id, "Region", "Global"],
      ]
    },
    {
      title  = "Edge: requests by cache result, hit ratio, origin fetch p99"
      period = 60
      metrics = [
        [local.app_namespace, "streamstack_edge_requests_total", "Service", "edge", "cache_result", "hit", { stat = "Sum" }],
        [local.app_namespace, "streamstack_edge_requests_total", "Service", "edge", "cache_result", "miss", { stat = "Sum" }],
        [local.app_namespace, "streamstack_edge_requests_total", "Service", "edge", "cache_result", "coalesced", { stat = "Sum" }],
        [local.app_namespace, "streamstack_edge_cache_hit_ratio", "Service", "edge", { stat = "Average", yAxis = "right" }],
        [local.app_namespace, "streamstack_edge_origin_fetch_seconds", "Service", "edge", { stat = "p99", yAxis = "right" }],
      ]
    },
    {
      title  = "Encoding jobs by state"
      stat   = "Sum"
      period = 300
      metrics = [
        for s in ["queued", "running", "completed", "failed"] :
        [local.app_namespace, "streamstack_encoding_jobs_total", "Service", "worker", "state", s]
      ]
    },
    {
      title  = "Encoding: job duration and time to playable (p50, p99)"
      period = 300
      metrics = [
        [local.app_namespace, "streamstack_encoding_job_duration_seconds", "Service", "worker", { stat = "p50" }],
        [local.app_namespace, "streamstack_encoding_job_duration_seconds", "Service", "worker", { stat = "p99" }],
        [local.app_namespace, "streamstack_time_to_playable_seconds", "Service", "worker", { stat = "p50" }],
        [local.app_namespace, "streamstack_time_to_playable_seconds", "Service", "worker", { stat = "p99" }],
      ]
    },
    {
      title   = "Queues and DLQs: visible messages"
      stat    = "Maximum"
      period  = 60
      metrics = local.queue_depth_metrics
    },
    {
      title  = "Queues: age of oldest message (s)"
      stat   = "Maximum"
      period = 60
      metrics = [
        for role, q in var.queue_names : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q, { label = role }]
      ]
    },
    {
      title  = "Handlers (Lambda): errors, throttles, duration p99"
      period = 300
      metrics = flatten([
        for h, f in var.function_names : [
          ["AWS/Lambda", "Errors", "FunctionName", f, { stat = "Sum", label = "${h} errors" }],
          ["AWS/Lambda", "Throttles", "FunctionName", f, { stat = "Sum", label = "${h} throttles" }],
          ["AWS/Lambda", "Duration", "FunctionName", f, { stat = "p99", label = "${h} p99 ms", yAxis = "right" }],
        ]
      ])
    },
    {
      title  = "Handlers (app): duration and errors by event type"
      period = 300
      metrics = [
        [{ expression = "SEARCH('{${local.app_namespace},Service,event_type} MetricName=\"streamstack_handler_duration_seconds\"', 'p99', 300)", id = "duration", label = "p99" }],
        [{ expression = "SEARCH('{${local.app_namespace},Service,event_type} MetricName=\"streamstack_handler_errors_total\"', 'Sum', 300)", id = "errors", label = "errors" }],
      ]
    },
    {
      title  = "Webhooks"
      period = 300
      metrics = [
        [{ expression = "SEARCH('{${local.app_namespace},Service} MetricName=\"streamstack_webhook_attempts_total\"', 'Sum', 300)", id = "attempts", label = "attempts" }],
        [{ expression = "SEARCH('{${local.app_namespace},Service} MetricName=\"streamstack_webhook_failures_total\"', 'Sum', 300)", id = "failures", label = "failures" }],
        [{ expression = "SEARCH('{${local.app_namespace},Service} MetricName=\"streamstack_webhook_delivery_seconds\"', 'p99', 300)", id = "latency", label = "delivery p99", yAxis = "right" }],
      ]
    },
    # Live: one line per connected stream (dimension live_stream_id); the alarms read the Service roll-up.
    {
      title  = "Live: ingest bitrate and frame rate per stream"
      period = 60
      metrics = [
        [{ expression = "SEARCH('{${local.app_namespace},Service,live_stream_id} MetricName=\"streamstack_live_ingest_bitrate_bits_per_second\"', 'Average', 60)", id = "bitrate", label = "bits/s" }],
        [{ expression = "SEARCH('{${local.app_namespace},Service,live_stream_id} MetricName=\"streamstack_live_ingest_frames_per_second\"', 'Average', 60)", id = "fps", label = "fps", yAxis = "right" }],
      ]
    },
    {
      title  = "Live: transcoder speed, latency estimate and stall per stream, part publish p99"
      period = 60
      metrics = [
        [{ expression = "SEARCH('{${local.app_namespace},Service,live_stream_id} MetricName=\"streamstack_live_transcoder_speed\"', 'Minimum', 60)", id = "speed", label = "speed (x real time)" }],
        [{ expression = "SEARCH('{${local.app_namespace},Service,live_stream_id} MetricName=\"streamstack_live_latency_seconds\"', 'Maximum', 60)", id = "latency", label = "latency (s)", yAxis = "right" }],
        [{ expression = "SEARCH('{${local.app_namespace},Service,live_stream_id} MetricName=\"streamstack_live_ingest_stall_seconds\"', 'Maximum', 60)", id = "stall", label = "no video (s)", yAxis = "right" }],
        [local.app_namespace, "streamstack_live_part_publish_seconds", "Service", "ingest", { stat = "p99", label = "part publish p99 (s)", yAxis = "right" }],
      ]
    },
  ]

  # live_encoder = medialive: MediaLive's own metrics (MediaLive User Guide, "Monitoring channels using Amazon
  # CloudWatch metrics"), one line per channel and pipeline; SEARCH cannot filter by tag, so it shows every
  # channel of the region, and the channel id is the one in the stream's `managed` record.
  managed_live_panels = [
    {
      title  = "Live (MediaLive channels): input frame rate, input loss, dropped frames, active alerts"
      period = 60
      metrics = [
        [{ expression = "SEARCH('{AWS/MediaLive,ChannelId,Pipeline} MetricName=\"InputVideoFrameRate\"', 'Average', 60)", id = "fps", label = "input fps" }],
        [{ expression = "SEARCH('{AWS/MediaLive,ChannelId,Pipeline} MetricName=\"InputLossSeconds\"', 'Sum', 60)", id = "loss", label = "input loss (s)", yAxis = "right" }],
        [{ expression = "SEARCH('{AWS/MediaLive,ChannelId,Pipeline} MetricName=\"DroppedFrames\"', 'Sum', 60)", id = "dropped", label = "dropped frames", yAxis = "right" }],
        [{ expression = "SEARCH('{AWS/MediaLive,ChannelId,Pipeline} MetricName=\"ActiveAlerts\"', 'Maximum', 60)", id = "alerts", label = "active alerts", yAxis = "right" }],
      ]
    },
  ]

  dashboard_widgets = [
    for i, panel in concat(local.dashboard_panels, var.managed_live ? local.managed_live_panels : []) : {
      type       = "metric", x = (i % 2) * 12, y = floor(i / 2) * 6, width = 12, height = 6
      properties = merge({ region = local.region }, panel)
    }
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
