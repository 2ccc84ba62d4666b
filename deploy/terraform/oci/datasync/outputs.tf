output "ipsec_connection_ids" {
  description = "Read each connection's tunnels (oci_core_ipsec_connection_tunnels) for the AWS side"
  value       = oci_core_ipsec.aws[*].id
}

output "database_private_endpoint" {
  value = oci_database_autonomous_database.main.private_endpoint
}

output "oracle_object_uri" {
  description = "[datasync] oracle_object_uri for COPY_DATA"
  value       = "https://objectstorage.${data.oci_identity_regions.current.regions[0].name}.oraclecloud.com/n/${var.object_storage_namespace}/b/${var.landing_bucket}/o"
}

data "oci_identity_regions" "current" {
  filter {
    name   = "key"
    values = [var.region_key]
  }
}
