# The Autonomous Database on a private endpoint: reachable only from the AWS VPC (and the VCN)
# on the TLS port, never from the internet.

resource "oci_core_network_security_group" "db" {
  compartment_id = var.compartment_id
  vcn_id         = var.vcn_id
  display_name   = "${var.name}-db"
}

resource "oci_core_network_security_group_security_rule" "db_from_aws" {
  network_security_group_id = oci_core_network_security_group.db.id
  direction                 = "INGRESS"
  protocol                  = "6"
  source_type               = "CIDR_BLOCK"
  source                    = var.aws_vpc_cidr
  description               = "Database TLS from the AWS VPC"
  tcp_options {
    destination_port_range {
      min = 1522
      max = 1522
    }
  }
}

resource "oci_core_network_security_group_security_rule" "db_from_vcn" {
  network_security_group_id = oci_core_network_security_group.db.id
  direction                 = "INGRESS"
  protocol                  = "6"
  source_type               = "CIDR_BLOCK"
  source                    = var.vcn_cidr
  description               = "Database TLS from the VCN (OCI Functions, operators)"
  tcp_options {
    destination_port_range {
      min = 1522
      max = 1522
    }
  }
}

resource "oci_database_autonomous_database" "main" {
  compartment_id              = var.compartment_id
  db_name                     = "DATASYNC"
  display_name                = "${var.name}-atp"
  db_workload                 = "OLTP"
  compute_model               = "ECPU"
  compute_count               = var.adb_ocpus
  data_storage_size_in_tbs    = 1
  admin_password              = var.adb_admin_password
  subnet_id                   = var.db_subnet_id
  nsg_ids                     = [oci_core_network_security_group.db.id]
  is_mtls_connection_required = false
  is_auto_scaling_enabled     = true
}
