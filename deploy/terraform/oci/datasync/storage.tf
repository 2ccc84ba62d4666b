# The OCI side of batch syncs: private, versioned; batch files are deleted after 30 days.

resource "oci_objectstorage_bucket" "landing" {
  compartment_id = var.compartment_id
  namespace      = var.object_storage_namespace
  name           = var.landing_bucket
  access_type    = "NoPublicAccess"
  versioning     = "Enabled"
}

resource "oci_objectstorage_object_lifecycle_policy" "landing" {
  namespace = var.object_storage_namespace
  bucket    = oci_objectstorage_bucket.landing.name
  rules {
    name        = "expire-batches"
    action      = "DELETE"
    is_enabled  = true
    time_amount = 30
    time_unit   = "DAYS"
    object_name_filter {
      inclusion_prefixes = ["batches/"]
    }
  }
}
