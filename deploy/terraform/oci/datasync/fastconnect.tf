# Production path: a private FastConnect virtual circuit to the colocation where Direct
# Connect meets it (a cross-connect between the two).

resource "oci_core_virtual_circuit" "aws" {
  count                     = var.enable_fastconnect ? 1 : 0
  compartment_id            = var.compartment_id
  display_name              = "${var.name}-fastconnect"
  type                      = "PRIVATE"
  bandwidth_shape_name      = var.fastconnect_bandwidth
  customer_asn              = var.customer_asn
  gateway_id                = oci_core_drg.main.id
  provider_service_id       = var.fastconnect_provider_service_id
  cross_connect_mappings {
    customer_bgp_peering_ip = var.customer_bgp_peering_ip
    oracle_bgp_peering_ip   = var.oracle_bgp_peering_ip
  }
}
