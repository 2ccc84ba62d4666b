"""Static checks of the Terraform modules (no terraform binary can run here).

Every file must parse as HCL2, every reference must name something the module declares, the
entry points must exist in the package, and the permissions must stay scoped.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "terraform"
MODULES = sorted(p for p in ROOT.glob("*/*") if p.is_dir())

_REF = re.compile(r"\b(?<![.\w])((?:aws|oci)_[a-z0-9_]+)\.([a-z0-9_]+)\.")
_DATA_REF = re.compile(r"\bdata\.([a-z0-9_]+)\.([a-z0-9_]+)\b")
_VAR_REF = re.compile(r"\bvar\.([a-z0-9_]+)")
_LOCAL_REF = re.compile(r"\blocal\.([a-z0-9_]+)")


def module_text(module: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(module.glob("*.tf")))


def declared(module: Path) -> tuple[set[tuple[str, str]], set[tuple[str, str]], set[str], set[str]]:
    resources: set[tuple[str, str]] = set()
    data: set[tuple[str, str]] = set()
    variables: set[str] = set()
    local_names: set[str] = set()
    for path in module.glob("*.tf"):
        with path.open() as handle:
            doc = hcl2.load(handle)
        for block in doc.get("resource", []):
            for kind, named in block.items():
                resources.update((kind.strip('"'), n.strip('"')) for n in named)
        for block in doc.get("data", []):
            for kind, named in block.items():
                data.update((kind.strip('"'), n.strip('"')) for n in named)
        for block in doc.get("variable", []):
            variables.update(n.strip('"') for n in block)
        for block in doc.get("locals", []):
            local_names.update(k for k in block if not k.startswith("__"))
    return resources, data, variables, local_names


def test_there_are_modules() -> None:
    assert {m.relative_to(ROOT).as_posix() for m in MODULES} >= {
        "aws/secretsync",
        "oci/secretsync",
    }


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.relative_to(ROOT).as_posix())
def test_every_reference_is_declared(module: Path) -> None:
    resources, data, variables, local_names = declared(module)
    text = re.sub(r"#[^\n]*", "", module_text(module))
    missing = sorted(
        {f"{k}.{n}" for k, n in _REF.findall(text) if (k, n) not in resources}
        | {f"data.{k}.{n}" for k, n in _DATA_REF.findall(text) if (k, n) not in data}
        | {f"var.{n}" for n in _VAR_REF.findall(text) if n not in variables}
        | {f"local.{n}" for n in _LOCAL_REF.findall(text) if n not in local_names}
    )
    assert not missing, f"{module}: undeclared references {missing}"


def _import(dotted: str) -> object:
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def test_aws_pipeline_triggers_on_awscurrent_label_updates_and_runs_our_handler() -> None:
    text = module_text(ROOT / "aws" / "secretsync")
    pattern = re.search(r"event_pattern\s*=\s*jsonencode\((\{.*?\})\)", text, re.S)
    assert pattern is not None
    body = pattern.group(1)
    assert '"Secret Label Updated"' in body
    assert '["AWSCURRENT"]' in body.replace(" ", "")
    assert '"aws.secretsmanager"' in body
    handlers = re.findall(r'handler\s*=\s*"([\w.]+)"', text)
    assert handlers, "no Lambda handler declared"
    for dotted in handlers:
        assert callable(_import(dotted)), dotted
    assert "redrive_policy" in text, "events need a DLQ"
    assert "maxReceiveCount" in text


def test_aws_reads_are_scoped_to_the_mapped_secrets() -> None:
    text = module_text(ROOT / "aws" / "secretsync")
    read = re.search(r'sid\s*=\s*"ReadMappedSecrets"(.*?)\}', text, re.S)
    assert read is not None
    assert "GetSecretValue" in read.group(1)
    assert '"*"' not in read.group(1), "secret reads must name the mapped ARNs"


def test_oci_policies_are_scoped_to_one_vault_and_key() -> None:
    text = module_text(ROOT / "oci" / "secretsync")
    statements = re.findall(r'"(Allow [^"]+)"', text)
    assert statements
    for statement in statements:
        if re.search(r"\bto (manage|use)\b", statement):
            assert " where target." in statement, f"unscoped: {statement}"
    joined = " ".join(statements)
    assert "target.vault.id" in joined
    assert "target.key.id" in joined


def test_oci_function_entry_point_exists() -> None:
    assert callable(_import("skybridge.apps.secretsync.handlers.oci_handler"))
