output "vpn_tunnel_addresses" {
  description = "AWS tunnel endpoints: give them to the OCI module (aws_tunnel_ips)"
  value       = [aws_vpn_connection.oci.tunnel1_address, aws_vpn_connection.oci.tunnel2_address]
}

output "state_machine_arn" {
  value = aws_sfn_state_machine.batch.arn
}

output "operators_role_arn" {
  description = "The role federated users assume (map it in the identity provider)"
  value       = aws_iam_role.operators.arn
}

output "saml_provider_arn" {
  value = aws_iam_saml_provider.idp.arn
}
