variable "name" {
  description = "Name prefix for every resource."
  type        = string
  default     = "skybridge-secretsync"
}

variable "source_secret_arns" {
  description = "Full ARNs (with the 6-character suffix) of the AWS secrets the mapping table reads; the IAM policy and the event rule's resources filter are scoped to exactly these."
  type        = list(string)
  validation {
    condition     = length(var.source_secret_arns) > 0
    error_message = "List at least one source secret ARN."
  }
}

variable "oci_credentials_secret_arn" {
  description = "ARN of the secret holding the OCI API key config as JSON (credentials_from in the table); null when OCI credentials come from elsewhere."
  type        = string
  default     = null
}

variable "kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt the source secrets (empty when they use aws/secretsmanager)."
  type        = list(string)
  default     = []
}

variable "mapping_table" {
  description = "The mapping table (TOML or JSON text), passed as SKYBRIDGE__SECRETSYNC__MAPPINGS_INLINE."
  type        = string
}

variable "lambda_package" {
  description = "Path to the Lambda deployment zip (skybridge[aws,oci] and its dependencies)."
  type        = string
}

variable "lambda_runtime" {
  type    = string
  default = "python3.12"
}

variable "lambda_timeout_seconds" {
  type    = number
  default = 60
}

variable "max_receive_count" {
  description = "Deliveries of one event before SQS moves it to the dead-letter queue."
  type        = number
  default     = 5
}

variable "reconcile_schedule" {
  description = "EventBridge Scheduler expression for the reconcile."
  type        = string
  default     = "rate(1 hour)"
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "alarm_topic_arn" {
  description = "SNS topic notified when events reach the dead-letter queue (null: no alarm actions)."
  type        = string
  default     = null
}

variable "tags" {
  type    = map(string)
  default = {}
}
