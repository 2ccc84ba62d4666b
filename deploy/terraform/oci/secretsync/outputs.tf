output "function_id" {
  value = oci_functions_function.sync.id
}

output "invoke_endpoint" {
  description = "POST {\"action\": \"reconcile\"} or an EventBridge event here (signed request)."
  value       = oci_functions_function.sync.invoke_endpoint
}

output "dynamic_group" {
  value = oci_identity_dynamic_group.fn.name
}

output "reconcile_topic_id" {
  value = oci_ons_notification_topic.reconcile.id
}
