# SAML federation through the common identity provider: its operators group maps to one OCI
# group, which may use only this sync's bucket, stream pool and database.

resource "oci_identity_identity_provider" "idp" {
  compartment_id      = var.tenancy_ocid
  name                = "${var.name}-idp"
  description         = "The identity provider AWS also trusts"
  product_type        = "IDCS"
  protocol            = "SAML2"
  metadata            = var.idp_metadata_xml
  metadata_url        = ""
}

resource "oci_identity_group" "operators" {
  compartment_id = var.tenancy_ocid
  name           = "${var.name}-operators"
  description    = "Operators of the AWS <-> OCI data sync"
}

resource "oci_identity_idp_group_mapping" "operators" {
  identity_provider_id = oci_identity_identity_provider.idp.id
  idp_group_name       = var.idp_operators_group
  group_id             = oci_identity_group.operators.id
}

resource "oci_identity_policy" "operators" {
  compartment_id = var.compartment_id
  name           = "${var.name}-operators"
  description    = "Least privilege for the data sync's operators"
  statements = [
    "Allow group ${oci_identity_group.operators.name} to read buckets in compartment id ${var.compartment_id} where target.bucket.name = '${var.landing_bucket}'",
    "Allow group ${oci_identity_group.operators.name} to manage objects in compartment id ${var.compartment_id} where target.bucket.name = '${var.landing_bucket}'",
    "Allow group ${oci_identity_group.operators.name} to read autonomous-databases in compartment id ${var.compartment_id}",
    "Allow group ${oci_identity_group.operators.name} to use stream-push in compartment id ${var.compartment_id} where target.streampool.id = '${var.stream_pool_id}'",
    "Allow group ${oci_identity_group.operators.name} to use stream-pull in compartment id ${var.compartment_id} where target.streampool.id = '${var.stream_pool_id}'",
  ]
}

# DBMS_CLOUD.COPY_DATA reads the batch files as the database's resource principal.
resource "oci_identity_dynamic_group" "adb" {
  compartment_id = var.tenancy_ocid
  name           = "${var.name}-adb"
  description    = "The Autonomous Database, for DBMS_CLOUD"
  matching_rule  = "resource.id = '${oci_database_autonomous_database.main.id}'"
}

resource "oci_identity_policy" "adb_reads_landing" {
  compartment_id = var.compartment_id
  name           = "${var.name}-adb-reads-landing"
  description    = "The database reads the landed batch files, nothing else"
  statements = [
    "Allow dynamic-group ${oci_identity_dynamic_group.adb.name} to read objects in compartment id ${var.compartment_id} where target.bucket.name = '${var.landing_bucket}'",
  ]
}
