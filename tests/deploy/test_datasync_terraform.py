"""Policy checks of the datasync Terraform (parsing and undeclared references are checked for
every module by test_terraform.py): both VPN sides route only the other cloud's CIDR, nothing
is open to the world inbound, the database sits on a private endpoint, federation trusts one
IdP with an audience condition, and permissions are scoped to this sync's resources.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "terraform"
AWS, OCI = ROOT / "aws" / "datasync", ROOT / "oci" / "datasync"
WORLD = "0.0.0.0/0"


def plain(value: Any) -> Any:
    """``value`` with python-hcl2's quotes around plain strings removed, recursively."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    return value


def resources(module: Path, kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(module.glob("*.tf")):
        with path.open() as handle:
            doc = hcl2.load(handle)
        for block in doc.get("resource", []) + doc.get("data", []):
            for k, named in block.items():
                if k.strip('"') == kind:
                    found.update({n.strip('"'): plain(body) for n, body in named.items()})
    return found


def text(module: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(module.glob("*.tf")))


def test_both_vpn_sides_route_only_the_other_clouds_cidr() -> None:
    [route] = resources(AWS, "aws_vpn_connection_route").values()
    assert route["destination_cidr_block"] == "${var.oci_vcn_cidr}"
    [vpn] = resources(AWS, "aws_vpn_connection").values()
    assert vpn["static_routes_only"] is True
    [ipsec] = resources(OCI, "oci_core_ipsec").values()
    assert ipsec["static_routes"] == ["${var.aws_vpc_cidr}"]
    [table] = resources(OCI, "oci_core_route_table").values()
    assert table["route_rules"][0]["destination"] == "${var.aws_vpc_cidr}"


def test_fastconnect_and_direct_connect_meet_at_the_gateways() -> None:
    [circuit] = resources(OCI, "oci_core_virtual_circuit").values()
    assert circuit["type"] == "PRIVATE"
    assert circuit["gateway_id"] == "${oci_core_drg.main.id}"
    [vif] = resources(AWS, "aws_dx_private_virtual_interface").values()
    assert vif["dx_gateway_id"] == "${aws_dx_gateway.main[0].id}"
    [association] = resources(AWS, "aws_dx_gateway_association").values()
    assert association["associated_gateway_id"] == "${aws_vpn_gateway.main.id}"


def test_nothing_is_open_to_the_world_inbound() -> None:
    for group in resources(AWS, "aws_security_group").values():
        assert "ingress" not in group, "the step Lambda takes no inbound traffic"
    for rule in resources(OCI, "oci_core_network_security_group_security_rule").values():
        if rule["direction"] == "INGRESS":
            assert rule["source"] != WORLD
            ports = rule["tcp_options"][0]["destination_port_range"][0]
            assert (ports["min"], ports["max"]) == (1522, 1522)
    assert WORLD not in text(OCI)


def test_the_database_has_a_private_endpoint_and_no_public_access() -> None:
    [adb] = resources(OCI, "oci_database_autonomous_database").values()
    assert adb["subnet_id"] == "${var.db_subnet_id}"
    assert adb["nsg_ids"] == ["${oci_core_network_security_group.db.id}"]
    assert "whitelisted_ips" not in adb
    assert adb["admin_password"] == "${var.adb_admin_password}"
    assert re.search(r'variable "adb_admin_password" \{[^}]*sensitive\s*=\s*true', text(OCI))


def test_buckets_are_private() -> None:
    [block] = resources(AWS, "aws_s3_bucket_public_access_block").values()
    assert all(
        block[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    [bucket] = resources(OCI, "oci_objectstorage_bucket").values()
    assert bucket["access_type"] == "NoPublicAccess"


def test_saml_federation_trusts_one_idp_with_the_audience_condition() -> None:
    trust = resources(AWS, "aws_iam_policy_document")["saml_trust"]["statement"][0]
    assert trust["actions"] == ["sts:AssumeRoleWithSAML"]
    assert trust["principals"][0]["identifiers"] == ["${aws_iam_saml_provider.idp.arn}"]
    condition = trust["condition"][0]
    assert (condition["variable"], condition["values"]) == (
        "SAML:aud",
        ["https://signin.aws.amazon.com/saml"],
    )
    [idp] = resources(OCI, "oci_identity_identity_provider").values()
    assert idp["protocol"] == "SAML2"
    assert resources(OCI, "oci_identity_idp_group_mapping")


def test_aws_permissions_name_actions_and_resources() -> None:
    for name, document in resources(AWS, "aws_iam_policy_document").items():
        for statement in document["statement"]:
            for action in statement["actions"]:
                assert "*" not in action, f"{name}: wildcard action {action}"
            if statement.get("resources") == ["*"]:
                assert statement["sid"] == "VpcNetworking", f"{name}: {statement}"
    policy = resources(AWS, "aws_iam_policy_document")["states"]["statement"][0]
    assert policy["resources"] == ["${aws_lambda_function.step.arn}"]


def test_oci_policies_are_scoped_to_this_syncs_resources() -> None:
    statements = re.findall(r'"(Allow [^"]+)"', text(OCI))
    assert statements
    for statement in statements:
        if re.search(r"\bto (manage|use)\b", statement):
            assert " where target." in statement, f"unscoped: {statement}"
        assert "in tenancy" not in statement, f"tenancy-wide: {statement}"


def test_the_step_lambda_runs_our_handler() -> None:
    [function] = resources(AWS, "aws_lambda_function").values()
    module, _, attr = function["handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), attr))
