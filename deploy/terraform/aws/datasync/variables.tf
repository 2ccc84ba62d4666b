variable "name" {
  description = "Prefix of every resource name"
  type        = string
  default     = "skybridge-datasync"
}

variable "tags" {
  type    = map(string)
  default = {}
}

variable "vpc_id" {
  description = "The AWS VPC the applications run in"
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of that VPC (what OCI routes back)"
  type        = string
}

variable "private_route_table_ids" {
  description = "Route tables that get the route to the OCI VCN"
  type        = list(string)
}

variable "lambda_subnet_ids" {
  description = "Private subnets the step Lambda runs in (routes to OCI through the VPN or DX)"
  type        = list(string)
}

variable "oci_vcn_cidr" {
  description = "CIDR of the OCI VCN holding the Autonomous Database"
  type        = string
}

variable "oci_vpn_public_ip" {
  description = "Public IP of the OCI IPSec tunnel endpoint (from the OCI module's output)"
  type        = string
}

variable "oci_bgp_asn" {
  type    = number
  default = 31898 # Oracle's ASN
}

variable "enable_direct_connect" {
  description = "Also reach OCI over Direct Connect + FastConnect (a cross-connect in a shared colocation)"
  type        = bool
  default     = false
}

variable "dx_connection_id" {
  description = "The Direct Connect connection ordered at the colocation (dxcon-...)"
  type        = string
  default     = ""
}

variable "dx_vlan" {
  type    = number
  default = 4094
}

variable "dx_bgp_asn" {
  type    = number
  default = 65002
}

variable "dx_amazon_address" {
  type    = string
  default = "169.254.100.5/30"
}

variable "dx_customer_address" {
  type    = string
  default = "169.254.100.6/30"
}

variable "saml_metadata_xml" {
  description = "SAML metadata of the common identity provider (the same IdP OCI trusts)"
  type        = string
}

variable "staging_bucket" {
  description = "S3 bucket of the AWS side of batch syncs (aws_objects)"
  type        = string
}

variable "batch_name" {
  description = "The batch sync the state machine runs (a [datasync.batches] name)"
  type        = string
}

variable "state_machine_file" {
  description = "ASL written by: skybridge datasync export-asl NAME --out FILE"
  type        = string
}

variable "lambda_package" {
  description = "Zip of skybridge[aws,postgres,oracle] and its dependencies"
  type        = string
}

variable "lambda_environment" {
  description = "SKYBRIDGE__... settings of the step Lambda (no secrets: use secret references)"
  type        = map(string)
  default     = {}
}
