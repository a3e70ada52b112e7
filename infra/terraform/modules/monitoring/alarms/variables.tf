variable "name" {
  description = "Prefix of every alarm name (the environment's name prefix)."
  type        = string
}

variable "alarms" {
  description = "Alarms by name suffix: one metric (namespace, metric_name, dimensions), or an expression with its label over metrics by query id; statistic is Sum, Average, Minimum, Maximum, SampleCount or a percentile such as p99."
  type = map(object({
    description        = string
    statistic          = string
    period             = number
    evaluation_periods = number
    datapoints         = optional(number)
    comparison         = string
    threshold          = number
    missing_data       = optional(string, "notBreaching")
    namespace          = optional(string)
    metric_name        = optional(string)
    dimensions         = optional(map(string))
    expression         = optional(string)
    label              = optional(string)
    metrics = optional(map(object({
      namespace   = string
      metric_name = string
      dimensions  = map(string)
    })), {})
  }))

  validation {
    condition = alltrue([
      for a in values(var.alarms) : (a.expression == null) == (a.metric_name != null) && (a.expression == null) == (length(a.metrics) == 0)
    ])
    error_message = "Each alarm has either one metric (metric_name) or an expression over metrics."
  }
}

variable "topic_name" {
  description = "Name of the SNS topic every alarm notifies on ALARM and OK (in the alarms' region)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the topic (its policy lets CloudWatch alarms publish)."
  type        = string
}

variable "emails" {
  description = "E-mail addresses subscribed to the topic."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every alarm."
  type        = map(string)
  default     = {}
}
