# Hourly reconcile: always-firing alarm -> ONS topic -> function subscription.

resource "oci_ons_notification_topic" "reconcile" {
  compartment_id = var.compartment_ocid
  name           = "${var.name}-reconcile"
  description    = "Triggers the secretsync reconcile."
  freeform_tags  = var.freeform_tags
}

resource "oci_ons_subscription" "reconcile" {
  compartment_id = var.compartment_ocid
  topic_id       = oci_ons_notification_topic.reconcile.id
  protocol       = "ORACLE_FUNCTIONS"
  endpoint       = oci_functions_function.sync.id
  freeform_tags  = var.freeform_tags
}

# ONS must be allowed to invoke the function.
resource "oci_identity_policy" "ons_invoke" {
  compartment_id = var.compartment_ocid
  name           = "${var.name}-ons-invoke"
  description    = "Let the reconcile topic invoke the secretsync function."
  statements = [
    "Allow service ons to use functions-family in compartment id ${var.compartment_ocid} where target.function.id = '${oci_functions_function.sync.id}'",
  ]
  freeform_tags = var.freeform_tags
}

resource "oci_monitoring_alarm" "reconcile_tick" {
  compartment_id        = var.compartment_ocid
  metric_compartment_id = var.compartment_ocid
  display_name          = "${var.name}-reconcile-tick"
  is_enabled            = true
  namespace             = "oci_faas"
  # NOT VERIFIED (no tenancy here): the query must be true every window for the alarm to
  # keep firing; OCI does not fire on absent data, so an idle function may stop the ticks.
  # If so, point the query at a metric that always exists (e.g. a custom heartbeat) or use
  # an external scheduler; see docs/secretsync.md "What is manual".
  query                                         = "FunctionInvocationCount[1h]{resourceId = \"${oci_functions_function.sync.id}\"}.count() >= 0"
  severity                                      = "INFO"
  body                                          = "{\"action\": \"reconcile\"}"
  message_format                                = "RAW"
  destinations                                  = [oci_ons_notification_topic.reconcile.id]
  repeat_notification_duration                  = var.reconcile_interval
  pending_duration                              = "PT1M"
  resolution                                    = "1m"
  is_notifications_per_metric_dimension_enabled = false
  freeform_tags                                 = var.freeform_tags
}

# Dead letters stay in the app's state (kv); an alarm on them needs a custom metric, which
# the function does not publish yet (documented as manual in docs/secretsync.md).
