# What every alarm watches, as data: the alarms module turns each entry into one CloudWatch alarm.
# Only var.* and local.* here: tests/infra evaluates this block with `terraform console`.
locals {
  # The app's CloudWatch EMF namespace. Dimensions are Service plus the metric's labels,
  # except route, method and status_class (aggregated away); see streamstack.observability.catalogue.
  app_namespace = "Streamstack"

  alb = { LoadBalancer = var.alb_arn_suffix }
  alb_5xx = {
    elb    = { namespace = "AWS/ApplicationELB", metric_name = "HTTPCode_ELB_5XX_Count", dimensions = local.alb }
    target = { namespace = "AWS/ApplicationELB", metric_name = "HTTPCode_Target_5XX_Count", dimensions = local.alb }
  }

  # Regional alarms by name suffix: one metric (namespace, metric_name, dimensions), or an expression
  # over metrics by query id. statistic is Sum, Average, Minimum, Maximum, SampleCount or a percentile (p99).
  alarms = merge(
    {
      "alb-5xx-count" = {
        description = "5XX responses (load balancer + targets) above ${var.alb_5xx_count_threshold} in 5 minutes."
        expression  = "FILL(elb, 0) + FILL(target, 0)"
        label       = "5XX responses"
        metrics     = local.alb_5xx
        statistic   = "Sum", period = 300, evaluation_periods = 1
        comparison  = "GreaterThanThreshold", threshold = var.alb_5xx_count_threshold
      }
      "alb-5xx-rate" = {
        description = "More than ${var.alb_5xx_rate_percent}% of requests answered 5XX over 5 minutes."
        expression  = "100 * (FILL(elb, 0) + FILL(target, 0)) / requests"
        label       = "5XX rate (%)"
        metrics = merge(local.alb_5xx, {
          requests = { namespace = "AWS/ApplicationELB", metric_name = "RequestCount", dimensions = local.alb }
        })
        statistic  = "Sum", period = 300, evaluation_periods = 2, datapoints = 2
        comparison = "GreaterThanThreshold", threshold = var.alb_5xx_rate_percent
      }
      "alb-target-response-p99" = {
        description = "Target response time p99 above ${var.alb_p99_seconds}s for 15 minutes."
        namespace   = "AWS/ApplicationELB", metric_name = "TargetResponseTime", dimensions = local.alb
        statistic   = "p99", period = 300, evaluation_periods = 3
        comparison  = "GreaterThanThreshold", threshold = var.alb_p99_seconds
      }
      # ffmpeg workers count failures as Service=worker; with MediaConvert, on_encoding_event counts them as Service=lambda.
      "encoding-failures" = {
        description = "More than ${var.encoding_failures_threshold} encoding jobs failed in 15 minutes."
        expression  = "FILL(worker, 0) + FILL(handler, 0)"
        label       = "Failed encoding jobs"
        metrics = {
          for id, service in { worker = "worker", handler = "lambda" } : id => {
            namespace                 = local.app_namespace, metric_name = "streamstack_encoding_jobs_total"
            dimensions                = { Service = service, state = "failed" }
          }
        }
        statistic  = "Sum", period = 900, evaluation_periods = 1
        comparison = "GreaterThanThreshold", threshold = var.encoding_failures_threshold
      }
      # Live: the ingest writes each per-stream metric twice, per live_stream_id and rolled up to Service
      # alone, so these watch the worst stream. No stream connected: no data, not breaching.
      "live-ingest-stalled" = {
        description = "A connected live publisher sent no video for ${var.live_ingest_stall_seconds}s (streamstack_live_ingest_stall_seconds)."
        namespace   = local.app_namespace, metric_name = "streamstack_live_ingest_stall_seconds"
        dimensions  = { Service = "ingest" }
        statistic   = "Maximum", period = 60, evaluation_periods = 1
        comparison  = "GreaterThanOrEqualToThreshold", threshold = var.live_ingest_stall_seconds
      }
      "live-transcoder-behind" = {
        description = "A live encoder ran below ${var.live_transcoder_min_speed}x real time for 2 minutes: its viewers fall behind (a stalled ingest slows it too)."
        namespace   = local.app_namespace, metric_name = "streamstack_live_transcoder_speed"
        dimensions  = { Service = "ingest" }
        statistic   = "Minimum", period = 60, evaluation_periods = 2, datapoints = 2
        comparison  = "LessThanThreshold", threshold = var.live_transcoder_min_speed
      }
    },
    {
      for role, queue in var.dlq_names : "${role}-dlq-not-empty" => {
        description = "Messages in ${queue}: they failed ${role} processing repeatedly. Inspect, fix, redrive."
        namespace   = "AWS/SQS", metric_name = "ApproximateNumberOfMessagesVisible", dimensions = { QueueName = queue }
        statistic   = "Maximum", period = 60, evaluation_periods = 1
        comparison  = "GreaterThanThreshold", threshold = 0
      }
    },
    {
      for role, queue in var.queue_names : "${role}-oldest-message-age" => {
        description = "Oldest message in ${queue} older than ${lookup(var.oldest_message_age_seconds, role, 900)}s: consumers are stuck or too few."
        namespace   = "AWS/SQS", metric_name = "ApproximateAgeOfOldestMessage", dimensions = { QueueName = queue }
        statistic   = "Maximum", period = 60, evaluation_periods = 5
        comparison  = "GreaterThanThreshold", threshold = lookup(var.oldest_message_age_seconds, role, 900)
      }
    },
    merge([
      for handler, function_name in var.function_names : {
        for kind, alarm in {
          errors = {
            description = "${function_name} failed invocations (whole-batch failures; per-record failures show in the DLQ)."
            metric_name = "Errors", statistic = "Sum", evaluation_periods = 1, threshold = 0
          }
          "duration-p99" = {
            description = "${function_name} duration p99 above ${var.lambda_duration_p99_fraction * 100}% of its timeout."
            metric_name = "Duration", statistic = "p99", evaluation_periods = 3
            threshold   = var.function_timeouts[handler] * 1000 * var.lambda_duration_p99_fraction
          }
          throttles = {
            description = "${function_name} throttled: reserved concurrency or the event source's maximum_concurrency is too low."
            metric_name = "Throttles", statistic = "Sum", evaluation_periods = 1, threshold = 0
          }
        } :
        "${handler}-${kind}" => merge(alarm, {
          namespace = "AWS/Lambda", dimensions = { FunctionName = function_name }
          period    = 300, comparison = "GreaterThanThreshold"
        })
      }
    ]...),
    {
      for name, alarm in {
        "worker-heartbeat-missing" = {
          description = "No encode worker reported a heartbeat for 10 minutes."
          namespace   = local.app_namespace, metric_name = "streamstack_worker_heartbeat_timestamp_seconds"
          dimensions  = { Service = "worker" }
          statistic   = "SampleCount", period = 300, evaluation_periods = 2
          comparison  = "LessThanThreshold", threshold = 1, missing_data = "breaching"
        }
      } : name => alarm if var.worker_heartbeat_alarm
    },
  )

  # CloudFront publishes its metrics in us-east-1 only, so these alarms and their topic live there.
  cloudfront = { DistributionId = var.distribution_id, Region = "Global" }
  cloudfront_alarms = {
    "cloudfront-5xx-rate" = {
      description = "CloudFront 5xxErrorRate above ${var.cloudfront_5xx_rate_percent}% for 10 minutes."
      namespace   = "AWS/CloudFront", metric_name = "5xxErrorRate", dimensions = local.cloudfront
      statistic   = "Average", period = 300, evaluation_periods = 2
      comparison  = "GreaterThanThreshold", threshold = var.cloudfront_5xx_rate_percent
    }
    "cloudfront-cache-hit-rate" = {
      description = "CloudFront CacheHitRate below ${var.cloudfront_min_cache_hit_rate_percent}% for 30 minutes (origin load grows)."
      namespace   = "AWS/CloudFront", metric_name = "CacheHitRate", dimensions = local.cloudfront
      statistic   = "Average", period = 300, evaluation_periods = 6, datapoints = 6
      comparison  = "LessThanThreshold", threshold = var.cloudfront_min_cache_hit_rate_percent
    }
  }
}
