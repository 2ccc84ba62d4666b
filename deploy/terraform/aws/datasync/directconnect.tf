# Production path: Direct Connect private virtual interface to a DX gateway associated with
# the VPC's virtual private gateway; FastConnect meets it in the same colocation.

resource "aws_dx_gateway" "main" {
  count           = var.enable_direct_connect ? 1 : 0
  name            = "${var.name}-dxgw"
  amazon_side_asn = "64512"
}

resource "aws_dx_private_virtual_interface" "oci" {
  count            = var.enable_direct_connect ? 1 : 0
  connection_id    = var.dx_connection_id
  name             = "${var.name}-oci-vif"
  vlan             = var.dx_vlan
  address_family   = "ipv4"
  bgp_asn          = var.dx_bgp_asn
  amazon_address   = var.dx_amazon_address
  customer_address = var.dx_customer_address
  dx_gateway_id    = aws_dx_gateway.main[0].id
  tags             = var.tags
}

resource "aws_dx_gateway_association" "vgw" {
  count                 = var.enable_direct_connect ? 1 : 0
  dx_gateway_id         = aws_dx_gateway.main[0].id
  associated_gateway_id = aws_vpn_gateway.main.id
  allowed_prefixes      = [var.vpc_cidr]
}
