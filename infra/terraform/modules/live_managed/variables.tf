variable "name" {
  description = "Prefix of every resource name; starts with the environment (e.g. dev-streamstack). Also the MediaPackage v2 channel group."
  type        = string
}

variable "publisher_cidrs" {
  description = "Address ranges publishers push RTMP to MediaLive inputs from (the input security group's rules)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "media_bucket_arn" {
  description = "Media bucket harvest jobs write recordings to (under assets/)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
