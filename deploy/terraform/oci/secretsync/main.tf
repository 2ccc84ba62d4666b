# secretsync on OCI: a Functions application running the same engine (resource principal),
# IAM scoped to ONE vault and ONE key, and an hourly reconcile trigger.
#
# OCI has no cron for Functions. The trigger here is a Monitoring alarm meant to stay firing
# and repeat its notification every reconcile_interval (see schedule.tf for the caveat); the notification goes to an ONS topic whose
# subscription invokes the function, and oci_handler treats alarm messages as "reconcile".
# Alternatives (manual): OCI Resource Scheduler where available, or an external scheduler
# calling the function's invoke endpoint with {"action": "reconcile"}.

locals {
  dg_ref = var.use_identity_domain ? "'Default'/'${oci_identity_dynamic_group.fn.name}'" : oci_identity_dynamic_group.fn.name
}

resource "oci_identity_dynamic_group" "fn" {
  compartment_id = var.tenancy_ocid
  name           = "${var.name}-fn"
  description    = "The secretsync function (resource principal)."
  matching_rule  = "ALL {resource.type = 'fnfunc', resource.compartment.id = '${var.compartment_ocid}'}"
  freeform_tags  = var.freeform_tags
}

resource "oci_identity_policy" "fn" {
  compartment_id = var.compartment_ocid
  name           = "${var.name}-fn"
  description    = "secretsync may manage secrets in one vault with one key, and read the compartment's audit events."
  statements = compact([
    "Allow dynamic-group ${local.dg_ref} to manage secret-family in compartment id ${var.compartment_ocid} where target.vault.id = '${var.vault_ocid}'",
    "Allow dynamic-group ${local.dg_ref} to use vaults in compartment id ${var.compartment_ocid} where target.vault.id = '${var.vault_ocid}'",
    "Allow dynamic-group ${local.dg_ref} to use keys in compartment id ${var.compartment_ocid} where target.key.id = '${var.key_ocid}'",
    # Reconcile reads OCI Audit as a change feed, so it reads only targets someone changed.
    # Audit has no finer resource than the compartment: this lists every audit event in it.
    var.use_change_feed ? "Allow dynamic-group ${local.dg_ref} to read audit-events in compartment id ${var.compartment_ocid}" : "",
    var.aws_credentials_secret_ocid == null ? "" : "Allow dynamic-group ${local.dg_ref} to read secret-bundles in compartment id ${var.compartment_ocid} where target.secret.id = '${var.aws_credentials_secret_ocid}'",
  ])
  freeform_tags = var.freeform_tags
}

resource "oci_functions_application" "app" {
  compartment_id = var.compartment_ocid
  display_name   = var.name
  subnet_ids     = var.subnet_ocids
  shape          = "GENERIC_X86"
  config = {
    SKYBRIDGE__SECRETSYNC__MAPPINGS_INLINE      = var.mapping_table
    SKYBRIDGE__LOG__LEVEL                       = "INFO"
    SKYBRIDGE__SECRETSYNC__USE_CHANGE_FEED      = tostring(var.use_change_feed)
    SKYBRIDGE__SECRETSYNC__CHANGE_FEED_OVERLAP  = tostring(var.change_feed_overlap_seconds)
    SKYBRIDGE__SECRETSYNC__FULL_VERIFY_INTERVAL = tostring(var.full_verify_interval_seconds)
    # No event stream in the function: dead letters go to the state store.
    SKYBRIDGE__SECRETSYNC__DEAD_LETTERS = "kv"
  }
  freeform_tags = var.freeform_tags
}

resource "oci_functions_function" "sync" {
  application_id     = oci_functions_application.app.id
  display_name       = "${var.name}-sync"
  image              = var.function_image
  memory_in_mbs      = var.function_memory_mb
  timeout_in_seconds = var.function_timeout_seconds
  config = {
    SKYBRIDGE__SECRETSYNC__STATE = var.state_url
  }
  freeform_tags = var.freeform_tags
}
