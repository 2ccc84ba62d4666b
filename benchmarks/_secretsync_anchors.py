"""The anchors of benchmarks/secretsync.py, written straight against boto3 and the oci SDK.

* :class:`Naive`: the original Lambda. Per secret, one at a time: ``GetSecretValue``,
  ``GetSecretBundleByName``, and an unconditional ``UpdateSecret`` (no version name).
* :class:`Competent`: what a competent engineer writes without a change feed. Source values
  in ``BatchGetSecretValue`` calls of 20 ids; per secret one ``GetSecretBundleByName``, the
  values compared, ``UpdateSecret`` only when they differ; chunks of 20 secrets handled by 8
  threads. A no-op reconcile of N secrets is N/20 + N calls and no write, and it notices an
  edit made on the target by anyone on every run. What it does not do that ours does: order
  (a late event can write an older version), ownership checks, version names that make a
  retried write a no-op, pruning of old versions, dead letters.
"""

from __future__ import annotations

import base64
from typing import Any

import oci
from _secretsync_setup import REGION, Servers, parallel
from oci.vault.models import Base64SecretContentDetails, UpdateSecretDetails


def _clients(servers: Servers) -> tuple[Any, Any, Any, str]:
    """boto3 Secrets Manager, OCI Vaults and OCI Secrets clients on the anchors' tenancy."""
    emu = servers.theirs
    cfg, none = emu.sdk_config(), oci.retry.NoneRetryStrategy()
    vaults = oci.vault.VaultsClient(cfg, service_endpoint=emu.endpoint, retry_strategy=none)
    bundles = oci.secrets.SecretsClient(cfg, service_endpoint=emu.endpoint, retry_strategy=none)
    aws = servers.boto3()
    assert aws.meta.region_name == REGION
    return aws, vaults, bundles, servers.vault(emu)[0]


def _content(value: str) -> Base64SecretContentDetails:
    return Base64SecretContentDetails(content=base64.b64encode(value.encode()).decode())


class Naive:
    """The original design, per secret: read AWS, read the OCI bundle, write unconditionally."""

    def __init__(self, servers: Servers) -> None:
        self.aws, self.vaults, self.bundles, self.vault_id = _clients(servers)

    def sync(self, name: str, version_id: str | None = None) -> None:
        kwargs = {"VersionId": version_id} if version_id else {}
        value = self.aws.get_secret_value(SecretId=name, **kwargs)["SecretString"]
        bundle = self.bundles.get_secret_bundle_by_name(name, self.vault_id).data
        details = UpdateSecretDetails(secret_content=_content(value))
        self.vaults.update_secret(bundle.secret_id, details)

    def reconcile(self, names: list[str]) -> None:
        for name in names:
            self.sync(name)


class Competent:
    """Batch reads, compare before write, bounded parallelism."""

    def __init__(self, servers: Servers) -> None:
        self.aws, self.vaults, self.bundles, self.vault_id = _clients(servers)

    def sync(self, name: str, version_id: str) -> bool:
        """The event handler: this version's value, written only if the target differs."""
        value = self.aws.get_secret_value(SecretId=name, VersionId=version_id)["SecretString"]
        return self._write_if_different(name, value)

    def reconcile(self, names: list[str]) -> int:
        """Every secret's current value compared with its target; the number written."""
        chunks = [names[i : i + 20] for i in range(0, len(names), 20)]
        return sum(parallel(self._reconcile_chunk, chunks))

    def _reconcile_chunk(self, names: list[str]) -> int:
        found = self.aws.batch_get_secret_value(SecretIdList=names)
        values = {v["Name"]: v["SecretString"] for v in found["SecretValues"]}
        assert not found.get("Errors"), found.get("Errors")
        assert len(values) == len(names)
        return sum(self._write_if_different(name, values[name]) for name in names)

    def _write_if_different(self, name: str, value: str) -> bool:
        bundle = self.bundles.get_secret_bundle_by_name(name, self.vault_id).data
        held = base64.b64decode(bundle.secret_bundle_content.content).decode()
        if held == value:
            return False
        details = UpdateSecretDetails(secret_content=_content(value))
        self.vaults.update_secret(bundle.secret_id, details)
        return True
