variable "name" {
  description = "Name prefix for every resource."
  type        = string
  default     = "skybridge-secretsync"
}

variable "tenancy_ocid" {
  description = "Tenancy OCID (dynamic groups and policies live in the root compartment)."
  type        = string
}

variable "compartment_ocid" {
  description = "Compartment of the vault, the function and the topic."
  type        = string
}

variable "vault_ocid" {
  description = "The one vault secretsync may write (policies are scoped to it)."
  type        = string
}

variable "key_ocid" {
  description = "The master encryption key new target secrets are created with."
  type        = string
}

variable "subnet_ocids" {
  description = "Subnets for the Functions application (need egress to AWS and the OCI APIs)."
  type        = list(string)
}

variable "function_image" {
  description = "OCIR image of the function (fdk entry point calling skybridge.apps.secretsync.handlers.oci_handler)."
  type        = string
}

variable "mapping_table" {
  description = "The mapping table (TOML or JSON); target backends should use ?auth=resource_principal."
  type        = string
}

variable "state_url" {
  description = "kv URL for state, audit and dead letters, reachable from the function (e.g. rediss://... on OCI Cache, or dynamodb://table). A function's local disk does not persist."
  type        = string
  sensitive   = true
}

variable "aws_credentials_secret_ocid" {
  description = "OCI secret holding AWS credentials when the function reads AWS sources (null: none). Read-only access is granted to it."
  type        = string
  default     = null
}

variable "reconcile_interval" {
  description = "ISO 8601 duration between reconcile triggers (the alarm's repeat notification)."
  type        = string
  default     = "PT1H"
}

variable "function_memory_mb" {
  type    = number
  default = 256
}

variable "function_timeout_seconds" {
  type    = number
  default = 120
}

variable "use_identity_domain" {
  description = "Policies name the dynamic group as 'Default'/'<name>' (identity domains) instead of <name>."
  type        = bool
  default     = true
}

variable "freeform_tags" {
  type    = map(string)
  default = {}
}

variable "use_change_feed" {
  description = "Reconcile reads OCI Audit to find edited targets (needs read audit-events in the compartment); false reads every target on every reconcile."
  type        = bool
  default     = true
}

variable "change_feed_overlap_seconds" {
  description = "How far before the last verified time each reconcile re-reads Audit (events are listed late, usually within 15 minutes)."
  type        = number
  default     = 1800
}

variable "full_verify_interval_seconds" {
  description = "Every target is read at least this often, whatever Audit says."
  type        = number
  default     = 86400
}
