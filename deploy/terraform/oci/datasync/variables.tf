variable "name" {
  description = "Prefix of every resource name"
  type        = string
  default     = "skybridge-datasync"
}

variable "tenancy_ocid" {
  type = string
}

variable "compartment_id" {
  type = string
}

variable "vcn_id" {
  description = "The VCN holding the Autonomous Database's private endpoint"
  type        = string
}

variable "vcn_cidr" {
  type = string
}

variable "db_subnet_id" {
  description = "Private subnet of the database's private endpoint"
  type        = string
}

variable "aws_vpc_cidr" {
  description = "CIDR of the AWS VPC (the only network allowed to reach the database)"
  type        = string
}

variable "aws_tunnel_ips" {
  description = "AWS VPN tunnel endpoints (the AWS module's vpn_tunnel_addresses)"
  type        = list(string)
}

variable "enable_fastconnect" {
  description = "Also reach AWS over FastConnect + Direct Connect"
  type        = bool
  default     = false
}

variable "fastconnect_provider_service_id" {
  description = "The colocation provider's FastConnect service (e.g. Equinix)"
  type        = string
  default     = ""
}

variable "fastconnect_bandwidth" {
  type    = string
  default = "1 Gbps"
}

variable "customer_bgp_peering_ip" {
  type    = string
  default = "169.254.100.1/30"
}

variable "oracle_bgp_peering_ip" {
  type    = string
  default = "169.254.100.2/30"
}

variable "customer_asn" {
  type    = number
  default = 65001
}

variable "adb_admin_password" {
  description = "ADMIN password of the Autonomous Database"
  type        = string
  sensitive   = true
}

variable "adb_ocpus" {
  type    = number
  default = 2
}

variable "idp_metadata_xml" {
  description = "SAML metadata of the common identity provider (the same IdP AWS trusts)"
  type        = string
}

variable "idp_operators_group" {
  description = "The IdP group whose members operate the sync"
  type        = string
}

variable "landing_bucket" {
  description = "Object Storage bucket of the OCI side of batch syncs (oci_objects)"
  type        = string
}

variable "object_storage_namespace" {
  type = string
}

variable "stream_pool_id" {
  description = "OCI Streaming pool the change stream lives in (empty: not used)"
  type        = string
  default     = ""
}

variable "region_key" {
  description = "Three-letter key of the region (DXB, FRA, IAD...)"
  type        = string
}
