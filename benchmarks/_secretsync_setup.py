"""Rig for benchmarks/secretsync.py: servers, seeded secrets, call counters, the naive design.

Everything runs in one process: the moto server (AWS Secrets Manager), the OCI emulator, the
secretsync engine and the naive design. The naive design is what the issue calls the original
Lambda: per secret ``GetSecretValue`` + ``GetSecretBundle`` + an unconditional ``UpdateSecret``
with no version name, written straight against the SDKs.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import oci
from oci.vault.models import Base64SecretContentDetails, UpdateSecretDetails

from skybridge.apps.secretsync import SecretSync, table_from_dict
from skybridge.backends import kv
from skybridge.core.retry import RetryPolicy
from skybridge.testing.oci import OciEmulator
from skybridge.testing.pytest_plugin import AWS_TEST_ENV
from skybridge.testing.servers import RunningServer, start_moto

OWNER = "bench-secretsync"
REGION = "us-east-1"
RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, deadline=10.0)
OCI_WRITES = ("UpdateSecret", "CreateSecret", "ScheduleSecretVersionDeletion")
AWS_WRITES = ("PutSecretValue", "CreateSecret", "UpdateSecret", "TagResource", "UntagResource")
THREADS = 8


@dataclass
class Calls:
    """API calls by operation, per cloud, over one measured block."""

    aws: Counter[str] = field(default_factory=Counter)
    oci: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.aws.values()) + sum(self.oci.values())

    @property
    def writes(self) -> int:
        return sum(self.aws[op] for op in AWS_WRITES) + sum(self.oci[op] for op in OCI_WRITES)

    def brief(self) -> str:
        parts = [f"aws.{k}={v}" for k, v in sorted(self.aws.items())]
        parts += [f"oci.{k}={v}" for k, v in sorted(self.oci.items())]
        return " ".join(parts) or "none"


class Servers:
    """The moto server and the OCI emulator, plus counters on every AWS client we make."""

    def __init__(self) -> None:
        os.environ.update(AWS_TEST_ENV)  # fake credentials: moto accepts anything
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self.moto: RunningServer = start_moto()
        # moto keeps its state per process, not per server: start every size from empty
        httpx.post(f"{self.moto.url}/moto-api/reset").raise_for_status()
        self.emu = OciEmulator().start()
        self.vault_id, self.key_id = self.emu.create_vault()
        self._aws = Counter[str]()

    def close(self) -> None:
        self.emu.stop()
        self.moto.stop()

    # -- clients ---------------------------------------------------------------------------
    @property
    def aws_url(self) -> str:
        return f"aws-sm://{REGION}?endpoint_url={self.moto.url}"

    @property
    def oci_url(self) -> str:
        return (
            f"oci-vault://{self.vault_id}?key={self.key_id}"
            f"&compartment={self.emu.compartment_id}&endpoint={self.emu.endpoint}"
        )

    def count_aws(self, client: Any) -> Any:
        """Count every Secrets Manager call ``client`` makes (a botocore event hook)."""

        def hook(model: Any, **_: Any) -> None:
            self._aws[model.name] += 1

        client.meta.events.register("before-call.secretsmanager", hook)
        return client

    def boto3(self, *, counted: bool = True) -> Any:
        client = boto3.client(
            "secretsmanager",
            region_name=REGION,
            endpoint_url=self.moto.url,
        )
        return self.count_aws(client) if counted else client

    def oci_clients(self) -> tuple[Any, Any]:
        """``(VaultsClient, SecretsClient)`` on the emulator, SDK retries off (no faults here)."""
        cfg, none = self.emu.sdk_config(), oci.retry.NoneRetryStrategy()
        endpoint = self.emu.endpoint
        return (
            oci.vault.VaultsClient(cfg, service_endpoint=endpoint, retry_strategy=none),
            oci.secrets.SecretsClient(cfg, service_endpoint=endpoint, retry_strategy=none),
        )

    def edit_as_other_user(self, name: str, value: str) -> None:
        """``UpdateSecret`` on OCI secret ``name`` as another user, with the SDK directly."""
        cfg, endpoint = self.emu.add_user(), self.emu.endpoint
        bundle = oci.secrets.SecretsClient(cfg, service_endpoint=endpoint)
        secret_id = bundle.get_secret_bundle_by_name(name, self.vault_id).data.secret_id
        content = Base64SecretContentDetails(content=base64.b64encode(value.encode()).decode())
        vaults = oci.vault.VaultsClient(cfg, service_endpoint=endpoint)
        vaults.update_secret(secret_id, UpdateSecretDetails(secret_content=content))

    @contextmanager
    def counting(self) -> Iterator[Calls]:
        """Calls made inside the block (AWS through the hooks, OCI as the emulator saw them)."""
        aws0, oci0 = Counter(self._aws), Counter(self.emu.calls)
        calls = Calls()
        try:
            yield calls
        finally:
            calls.aws = Counter(self._aws) - aws0
            calls.oci = Counter(self.emu.calls) - oci0

    # -- engine ----------------------------------------------------------------------------
    def engine(self, names: list[str]) -> SecretSync:
        """A secretsync engine mapping AWS secret ``n`` to OCI secret ``n`` for each name."""
        table = table_from_dict(
            {
                "owner": OWNER,
                "backends": {"aws": self.aws_url, "oci": self.oci_url},
                "mappings": [
                    {
                        "name": name,
                        "source": {"backend": "aws", "secret": name},
                        "target": {"backend": "oci", "secret": name},
                    }
                    for name in names
                ],
            }
        )
        sync = SecretSync(
            table,
            state=kv.connect("sqlite://", setting=None),
            backend_options={"oci": {"config": self.emu.sdk_config()}},
            retry=RETRY,
            actor="bench",
        )
        self.count_aws(sync.backends.get("aws").client)  # type: ignore[attr-defined]
        return sync


def parallel(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(fn, items))


def seed(servers: Servers, size: int) -> tuple[SecretSync, list[str]]:
    """``size`` AWS secrets, each already synced to OCI by secretsync (state in-sync).

    AWS secrets are created with direct SDK calls; the OCI targets are written by the engine's
    own writer (the code path an event takes, fed by ``BatchGetSecretValue``), in threads, so
    the targets carry exactly the metadata and version names a real sync leaves behind, and
    the engine's state records them as in sync.
    """
    run = uuid.uuid4().hex[:6]
    names = [f"bench-{run}-{i:05d}" for i in range(size)]
    client = servers.boto3(counted=False)
    for name in names:  # one at a time: moto's secret dict is not safe for concurrent creates
        client.create_secret(Name=name, SecretString=f'{{"user":"app","password":"{name}"}}')
    sync = servers.engine(names)
    aws, target = sync.backends.get("aws"), sync.backends.get("oci")
    by_name = {m.name: m for m in sync.mappings}

    def sync_one(chunk: list[str]) -> None:
        values = aws.batch_get_values(chunk)
        for name in chunk:
            outcome = sync.writer.write(by_name[name], target, values[name], reason="seed")
            assert outcome.action == "created", outcome

    parallel(sync_one, [names[i : i + 20] for i in range(0, size, 20)])
    return sync, names


class Naive:
    """The original design, per secret: read AWS, read the OCI bundle, write unconditionally."""

    def __init__(self, servers: Servers) -> None:
        self.aws = servers.boto3()
        self.vaults, self.secrets = servers.oci_clients()
        self.vault_id = servers.vault_id

    def sync(self, name: str, version_id: str | None = None) -> str:
        """Sync one secret; returns the OCI secret id."""
        kwargs = {"VersionId": version_id} if version_id else {}
        value = self.aws.get_secret_value(SecretId=name, **kwargs)["SecretString"]
        bundle = self.secrets.get_secret_bundle_by_name(name, self.vault_id).data
        content = Base64SecretContentDetails(content=base64.b64encode(value.encode()).decode())
        self.vaults.update_secret(bundle.secret_id, UpdateSecretDetails(secret_content=content))
        return str(bundle.secret_id)

    def reconcile(self, names: list[str]) -> None:
        for name in names:
            self.sync(name)


def rotate(client: Any, name: str, value: str) -> str:
    """``PutSecretValue`` on moto; the new AWSCURRENT VersionId."""
    return str(client.put_secret_value(SecretId=name, SecretString=value)["VersionId"])
