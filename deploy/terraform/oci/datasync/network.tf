# IPSec VPN to AWS: a DRG attached to the VCN, a CPE per AWS tunnel endpoint, static routes
# to the AWS VPC only, and the database subnet's route to it through the DRG.

resource "oci_core_drg" "main" {
  compartment_id = var.compartment_id
  display_name   = "${var.name}-drg"
}

resource "oci_core_drg_attachment" "vcn" {
  drg_id       = oci_core_drg.main.id
  display_name = "${var.name}-vcn"
  network_details {
    id   = var.vcn_id
    type = "VCN"
  }
}

resource "oci_core_cpe" "aws" {
  count          = length(var.aws_tunnel_ips)
  compartment_id = var.compartment_id
  ip_address     = var.aws_tunnel_ips[count.index]
  display_name   = "${var.name}-aws-${count.index}"
}

resource "oci_core_ipsec" "aws" {
  count          = length(var.aws_tunnel_ips)
  compartment_id = var.compartment_id
  cpe_id         = oci_core_cpe.aws[count.index].id
  drg_id         = oci_core_drg.main.id
  static_routes  = [var.aws_vpc_cidr]
  display_name   = "${var.name}-to-aws-${count.index}"
}

resource "oci_core_route_table" "db" {
  compartment_id = var.compartment_id
  vcn_id         = var.vcn_id
  display_name   = "${var.name}-db"
  route_rules {
    destination       = var.aws_vpc_cidr
    destination_type  = "CIDR_BLOCK"
    network_entity_id = oci_core_drg.main.id
  }
}
