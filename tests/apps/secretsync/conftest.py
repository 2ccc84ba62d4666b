"""Fixtures for secretsync: event builders, a local-to-local engine, a moto + OCI emulator one."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from skybridge.apps.secretsync import SecretSync, table_from_dict
from skybridge.backends import kv, secrets
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.core.errors import NotFound
from skybridge.core.retry import RetryPolicy
from skybridge.core.secret import Secret
from skybridge.testing.servers import RunningServer

if TYPE_CHECKING:
    from skybridge.testing.oci import OciEmulator

EVENTS = Path(__file__).parent / "events"
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, deadline=10.0)


_LOCAL_MAPPINGS = """[backends]
src = "local://src"
dst = "local://dst"

[[mappings]]
name = "db"
source = { backend = "src", secret = "app/db" }
target = { backend = "dst", secret = "app-db" }
fields = ["password"]

[[mappings]]
name = "key"
source = { backend = "src", secret = "app/key" }
target = { backend = "dst", secret = "app-key" }
"""


def local_table(owner: str) -> str:
    """A mapping table with two local-to-local mappings (one selecting a JSON field)."""
    return f'owner = "{owner}"\n' + _LOCAL_MAPPINGS


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


def label_event(
    secret_arn: str, name: str, version_id: str, label: str = "AWSCURRENT"
) -> dict[str, Any]:
    """A native Secret Label Updated event (shape of events/label_updated.json)."""
    event = copy.deepcopy(load_event("label_updated"))
    event["id"] = str(uuid.uuid4())
    event["resources"] = [secret_arn]
    event["detail"] = {"name": name, "labelUpdated": label, "versionId": version_id}
    return event


def cloudtrail_event(
    secret_id: str, version_id: str | None, name: str = "PutSecretValue"
) -> dict[str, Any]:
    event = copy.deepcopy(load_event("cloudtrail_put_secret_value"))
    event["detail"]["eventName"] = name
    event["detail"]["requestParameters"] = {"secretId": secret_id}
    event["detail"]["responseElements"] = {"arn": secret_id}
    if version_id:
        event["detail"]["responseElements"]["versionId"] = version_id
    return event


class Events:
    """Event builders, handed to tests as the ``ev`` fixture."""

    load = staticmethod(load_event)
    label = staticmethod(label_event)
    cloudtrail = staticmethod(cloudtrail_event)


@pytest.fixture
def ev() -> type[Events]:
    return Events


class LocalRig:
    """Two local secret stores and an in-memory kv, wired into engines built from dict tables."""

    def __init__(self, root: Path) -> None:
        self.source = LocalSecretStore(root / "src")
        self.target = LocalSecretStore(root / "dst")
        self.kv: KeyValueStore = kv.connect("sqlite://", setting=None)

    def table(self, *mappings: dict[str, Any], owner: str = "test-owner") -> dict[str, Any]:
        return {
            "owner": owner,
            "backends": {"src": "local://src", "dst": "local://dst"},
            "mappings": list(mappings),
        }

    def engine(
        self, *mappings: dict[str, Any], owner: str = "test-owner", **options: Any
    ) -> SecretSync:
        return SecretSync(
            table_from_dict(self.table(*mappings, owner=owner)),
            state=self.kv,
            stores={"src": self.source, "dst": self.target},
            retry=FAST_RETRY,
            actor="pytest",
            **options,
        )

    def close(self) -> None:
        self.source.close()
        self.target.close()
        self.kv.close()

    @staticmethod
    def mapping(name: str, source: str, target: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "source": {"backend": "src", "secret": source},
            "target": {"backend": "dst", "secret": target},
            **extra,
        }


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[LocalRig]:
    r = LocalRig(tmp_path)
    yield r
    r.close()


class CloudRig:
    """AWS Secrets Manager on the moto server -> OCI Vault on the emulator."""

    def __init__(self, moto_url: str, emu: OciEmulator) -> None:
        self.emu = emu
        # A compartment per rig: the OCI Audit change feed is read per compartment, so other
        # tests' writes on the shared emulator stay out of this one's feed.
        self.compartment = f"ocid1.compartment.oc1..aaaaaaaa{uuid.uuid4().hex}"
        self.vault_id, self.key_id = emu.create_vault(self.compartment)
        self.aws_url = f"aws-sm://us-east-1?endpoint_url={moto_url}"
        self.oci_url = (
            f"oci-vault://{self.vault_id}?key={self.key_id}&compartment={self.compartment}"
            f"&endpoint={emu.endpoint}"
        )
        self.aws = secrets.connect(self.aws_url, setting=None)
        self.kv: KeyValueStore = kv.connect("sqlite://", setting=None)
        self.run = uuid.uuid4().hex[:8]
        self.engines: list[SecretSync] = []

    def name(self, suffix: str) -> str:
        return f"ss-{self.run}-{suffix}"

    def engine(
        self,
        *mappings: dict[str, Any],
        oci_options: dict[str, Any] | None = None,
        backends: dict[str, Any] | None = None,
        **options: Any,
    ) -> SecretSync:
        table = {
            "owner": "test-owner",
            "backends": backends or {"aws": self.aws_url, "oci": self.oci_url},
            "mappings": list(mappings),
        }
        sync = SecretSync(
            table_from_dict(table),
            state=self.kv,
            backend_options={
                "oci": oci_options
                if oci_options is not None
                else {"config": self.emu.sdk_config(), "clock": self.emu.clock}
            },
            retry=options.pop("retry", FAST_RETRY),
            actor="pytest",
            **options,
        )
        self.engines.append(sync)
        return sync

    def mapping(self, name: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "source": {"backend": "aws", "secret": self.name(name)},
            "target": {"backend": "oci", "secret": self.name(name)},
            **extra,
        }

    def rotate(self, name: str, value: str | bytes) -> tuple[str, dict[str, Any]]:
        """Write a new AWSCURRENT version; returns its id and the Label Updated event."""
        secret = self.name(name)
        wrapped: Any = Secret(value)
        try:
            version = self.aws.put_value(secret, wrapped)
        except NotFound:
            version = self.aws.create(secret, wrapped)
        return version.version_id, label_event(version.secret.secret_id, secret, version.version_id)

    def oci(self, sync: SecretSync) -> Any:
        return sync.backends.get("oci")

    def close(self) -> None:
        for sync in self.engines:
            sync.close()
        self.aws.close()
        self.kv.close()
        self.emu.faults.clear()


@pytest.fixture
def cloud(moto_server: RunningServer, oci_emulator: OciEmulator) -> Iterator[CloudRig]:
    oci_emulator.faults.clear()
    r = CloudRig(moto_server.url, oci_emulator)
    yield r
    r.close()


@pytest.fixture
def cloud_rig() -> type[CloudRig]:
    return CloudRig
