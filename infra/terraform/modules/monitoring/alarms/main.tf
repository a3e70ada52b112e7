# One CloudWatch alarm per entry of var.alarms, and the topic they notify, in the region of the provider given.

resource "aws_sns_topic" "this" {
  name              = var.topic_name
  kms_master_key_id = var.kms_key_arn

  tags = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.emails)

  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = each.value.datapoints
  treat_missing_data  = each.value.missing_data
  alarm_actions       = [aws_sns_topic.this.arn]
  ok_actions          = [aws_sns_topic.this.arn]

  # One metric: set here. An expression: the metric_query blocks below.
  namespace          = each.value.namespace
  metric_name        = each.value.metric_name
  dimensions         = each.value.dimensions
  period             = each.value.expression == null ? each.value.period : null
  statistic          = each.value.expression == null && !startswith(each.value.statistic, "p") ? each.value.statistic : null
  extended_statistic = each.value.expression == null && startswith(each.value.statistic, "p") ? each.value.statistic : null

  dynamic "metric_query" {
    for_each = each.value.expression == null ? [] : [each.value]
    content {
      id          = "alarm"
      expression  = metric_query.value.expression
      label       = metric_query.value.label
      return_data = true
    }
  }

  dynamic "metric_query" {
    for_each = each.value.metrics
    content {
      id = metric_query.key
      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.metric_name
        dimensions  = metric_query.value.dimensions
        period      = each.value.period
        stat        = each.value.statistic
      }
    }
  }

  tags = var.tags
}
