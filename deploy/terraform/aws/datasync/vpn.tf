# Site-to-site IPSec VPN to OCI: a customer gateway for OCI's tunnel endpoint, a virtual
# private gateway on the VPC and static routes to the OCI VCN only.

resource "aws_customer_gateway" "oci" {
  bgp_asn    = var.oci_bgp_asn
  ip_address = var.oci_vpn_public_ip
  type       = "ipsec.1"
  tags       = merge(var.tags, { Name = "${var.name}-oci" })
}

resource "aws_vpn_gateway" "main" {
  vpc_id = var.vpc_id
  tags   = merge(var.tags, { Name = "${var.name}-vgw" })
}

resource "aws_vpn_connection" "oci" {
  customer_gateway_id = aws_customer_gateway.oci.id
  vpn_gateway_id      = aws_vpn_gateway.main.id
  type                = "ipsec.1"
  static_routes_only  = true
  tags                = merge(var.tags, { Name = "${var.name}-to-oci" })
}

resource "aws_vpn_connection_route" "oci_vcn" {
  vpn_connection_id      = aws_vpn_connection.oci.id
  destination_cidr_block = var.oci_vcn_cidr
}

resource "aws_route" "to_oci" {
  count                  = length(var.private_route_table_ids)
  route_table_id         = var.private_route_table_ids[count.index]
  destination_cidr_block = var.oci_vcn_cidr
  gateway_id             = aws_vpn_gateway.main.id
}
