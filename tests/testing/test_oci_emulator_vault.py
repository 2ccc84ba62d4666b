"""Vault + Secrets through the real oci SDK against the emulator."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import oci
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybridge.core.clock import ManualClock
from skybridge.testing.oci import OciEmulator
from skybridge.testing.oci.stages import make_current, make_pending
from skybridge.testing.oci.vault import VaultStore

pytestmark = pytest.mark.oci
NO_RETRY = oci.retry.NoneRetryStrategy()
models = oci.vault.models


@dataclass
class Env:
    emu: OciEmulator
    vaults: Any
    secrets: Any
    vault_id: str
    key_id: str

    def create(self, name: str | None = None, value: bytes = b"v1", **extra: Any) -> Any:
        details = models.CreateSecretDetails(
            compartment_id=extra.pop("compartment_id", self.emu.compartment_id),
            secret_name=name or f"s-{uuid.uuid4().hex[:8]}",
            vault_id=self.vault_id,
            key_id=self.key_id,
            secret_content=content(value, extra.pop("version_name", None)),
            **extra,
        )
        return self.vaults.create_secret(details).data

    def write(self, secret_id: str, value: bytes, name: str | None = None, **kw: Any) -> Any:
        stage = kw.pop("stage", None)
        details = models.UpdateSecretDetails(secret_content=content(value, name, stage))
        return self.vaults.update_secret(secret_id, details, **kw).data

    def stages(self, secret_id: str) -> dict[int, list[str]]:
        versions = self.vaults.list_secret_versions(secret_id).data
        return {v.version_number: v.stages for v in versions}

    def read(self, secret_id: str, **kw: Any) -> bytes:
        bundle = self.secrets.get_secret_bundle(secret_id, **kw).data
        return base64.b64decode(bundle.secret_bundle_content.content)


def content(value: bytes, name: str | None = None, stage: str | None = None) -> Any:
    return models.Base64SecretContentDetails(
        content_type="BASE64", content=base64.b64encode(value).decode(), name=name, stage=stage
    )


def make_env(emu: OciEmulator) -> Env:
    cfg = emu.sdk_config()
    vault_id, key_id = emu.create_vault()
    return Env(
        emu,
        oci.vault.VaultsClient(cfg, service_endpoint=emu.endpoint, retry_strategy=NO_RETRY),
        oci.secrets.SecretsClient(cfg, service_endpoint=emu.endpoint, retry_strategy=NO_RETRY),
        vault_id,
        key_id,
    )


@pytest.fixture
def env(oci_emulator: OciEmulator) -> Iterator[Env]:
    yield make_env(oci_emulator)
    oci_emulator.faults.clear()


def service_error(fn: Any, *args: Any, **kwargs: Any) -> oci.exceptions.ServiceError:
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        fn(*args, **kwargs)
    return caught.value


def test_create_read_update_with_versions_and_stages(env: Env) -> None:
    secret = env.create(value=b"one", metadata={"source": "aws"}, description="d")
    assert secret.id.startswith("ocid1.vaultsecret.oc1.us-ashburn-1.")
    assert (secret.lifecycle_state, secret.current_version_number) == ("ACTIVE", 1)
    env.write(secret.id, b"two")
    env.write(secret.id, b"three")
    assert env.stages(secret.id) == {1: ["DEPRECATED"], 2: ["PREVIOUS"], 3: ["CURRENT", "LATEST"]}
    assert env.read(secret.id) == b"three"
    assert env.read(secret.id, version_number=1) == b"one"
    assert env.read(secret.id, stage="PREVIOUS") == b"two"
    bundle = env.secrets.get_secret_bundle(secret.id).data
    assert (bundle.version_number, bundle.stages, bundle.metadata) == (
        3,
        ["CURRENT", "LATEST"],
        {"source": "aws"},
    )
    assert env.vaults.get_secret(secret.id).data.current_version_number == 3


def test_get_secret_etag_and_if_match(env: Env) -> None:
    secret = env.create()
    etag = env.vaults.get_secret(secret.id).headers["etag"]
    env.write(secret.id, b"ok", if_match=etag)
    error = service_error(env.write, secret.id, b"stale", if_match=etag)
    assert (error.status, error.code) == (412, "PreconditionFailed")
    assert env.vaults.get_secret(secret.id).headers["etag"] != etag
    assert env.read(secret.id) == b"ok"


def test_metadata_only_update_creates_no_version(env: Env) -> None:
    secret = env.create()
    details = models.UpdateSecretDetails(
        metadata={"k": "v"}, description="new", freeform_tags={"team": "x"}
    )
    updated = env.vaults.update_secret(secret.id, details).data
    assert (updated.current_version_number, updated.metadata) == (1, {"k": "v"})
    assert (updated.description, updated.freeform_tags) == ("new", {"team": "x"})
    assert list(env.stages(secret.id)) == [1]


def test_retry_token_makes_create_idempotent(env: Env) -> None:
    details = models.CreateSecretDetails(
        compartment_id=env.emu.compartment_id,
        secret_name=f"tok-{uuid.uuid4().hex[:6]}",
        vault_id=env.vault_id,
        key_id=env.key_id,
        secret_content=content(b"x"),
    )
    first = env.vaults.create_secret(details, opc_retry_token="t-1").data
    again = env.vaults.create_secret(details, opc_retry_token="t-1").data
    assert again.id == first.id
    details.description = "different request"
    error = service_error(env.vaults.create_secret, details, opc_retry_token="t-1")
    assert error.status == 409


def test_version_name_is_unique_per_secret(env: Env) -> None:
    secret = env.create(version_name="aws-v1")
    env.write(secret.id, b"2", name="aws-v2")
    error = service_error(env.write, secret.id, b"again", name="aws-v2")
    assert (error.status, error.code, error.message) == (
        400,
        "InvalidParameter",
        "name already exists",
    )
    assert list(env.stages(secret.id)) == [1, 2]
    other = env.create(version_name="aws-v2")  # another secret may reuse the name
    bundle = env.secrets.get_secret_bundle(secret.id, secret_version_name="aws-v1").data
    assert (bundle.version_number, bundle.version_name, other.current_version_number) == (
        1,
        "aws-v1",
        1,
    )


def test_pending_stage_then_promote(env: Env) -> None:
    secret = env.create(value=b"live")
    env.write(secret.id, b"next", stage="PENDING")
    assert env.stages(secret.id) == {1: ["CURRENT"], 2: ["PENDING", "LATEST"]}
    assert env.read(secret.id) == b"live"
    assert env.read(secret.id, stage="PENDING") == b"next"
    env.vaults.update_secret(secret.id, models.UpdateSecretDetails(current_version_number=2))
    assert env.stages(secret.id) == {1: ["PREVIOUS"], 2: ["CURRENT", "LATEST"]}


def test_bundle_selectors_are_mutually_exclusive(env: Env) -> None:
    secret = env.create()
    error = service_error(
        env.secrets.get_secret_bundle, secret.id, version_number=1, stage="CURRENT"
    )
    assert error.status == 400
    error = service_error(env.secrets.get_secret_bundle, secret.id, version_number=9)
    assert error.status == 404


def test_thirty_active_versions_limit(env: Env) -> None:
    secret = env.create()
    for n in range(2, 31):
        env.write(secret.id, str(n).encode())
    error = service_error(env.write, secret.id, b"31")
    assert (error.status, error.code) == (400, "LimitExceeded")
    env.vaults.schedule_secret_version_deletion(
        secret.id, 1, models.ScheduleSecretVersionDeletionDetails()
    )
    env.write(secret.id, b"31")
    assert env.read(secret.id) == b"31"


def test_only_deprecated_versions_can_be_scheduled_for_deletion(env: Env) -> None:
    secret = env.create()
    env.write(secret.id, b"2")
    env.write(secret.id, b"3")
    schedule = env.vaults.schedule_secret_version_deletion
    for number in (2, 3):  # PREVIOUS, CURRENT
        error = service_error(
            schedule, secret.id, number, models.ScheduleSecretVersionDeletionDetails()
        )
        assert (error.status, error.code) == (409, "IncorrectState")
    when = datetime.now(UTC) + timedelta(days=2)
    schedule(secret.id, 1, models.ScheduleSecretVersionDeletionDetails(time_of_deletion=when))
    version = env.vaults.get_secret_version(secret.id, 1).data
    assert abs((version.time_of_deletion - when).total_seconds()) < 1
    error = service_error(schedule, secret.id, 1, models.ScheduleSecretVersionDeletionDetails())
    assert error.status == 409
    too_soon = models.ScheduleSecretVersionDeletionDetails(time_of_deletion=datetime.now(UTC))
    env.write(secret.id, b"4")
    assert service_error(schedule, secret.id, 2, too_soon).status == 400


def test_deleted_secret_name_stays_reserved(env: Env) -> None:
    name = f"reserved-{uuid.uuid4().hex[:6]}"
    secret = env.create(name)
    env.vaults.schedule_secret_deletion(secret.id, models.ScheduleSecretDeletionDetails())
    assert env.vaults.get_secret(secret.id).data.lifecycle_state == "PENDING_DELETION"
    by_name = env.secrets.get_secret_bundle_by_name
    assert service_error(by_name, secret_name=name, vault_id=env.vault_id).status == 404
    assert service_error(env.secrets.get_secret_bundle, secret.id).status == 404
    error = service_error(env.create, name)
    assert (error.status, error.message) == (400, "name already exists")
    assert service_error(env.write, secret.id, b"x").status == 409
    env.vaults.cancel_secret_deletion(secret.id)
    bundle = by_name(secret_name=name, vault_id=env.vault_id).data
    assert bundle.secret_id == secret.id


def test_bundle_by_name_and_name_scope_is_the_vault(env: Env) -> None:
    name = f"shared-{uuid.uuid4().hex[:6]}"
    secret = env.create(name, b"in vault 1")
    assert service_error(env.create, name).status == 400
    other_vault, other_key = env.emu.create_vault()
    env2 = Env(env.emu, env.vaults, env.secrets, other_vault, other_key)
    env2.create(name, b"in vault 2")
    bundle = env.secrets.get_secret_bundle_by_name(secret_name=name, vault_id=env.vault_id).data
    assert bundle.secret_id == secret.id
    assert base64.b64decode(bundle.secret_bundle_content.content) == b"in vault 1"
    unknown = env.secrets.get_secret_bundle_by_name
    assert service_error(unknown, secret_name="nope", vault_id=env.vault_id).status == 404


def test_create_needs_existing_vault_and_key(env: Env) -> None:
    _, foreign_key = env.emu.create_vault()
    for vault_id, key_id in (("ocid1.vault.oc1..nope", env.key_id), (env.vault_id, foreign_key)):
        bad = Env(env.emu, env.vaults, env.secrets, vault_id, key_id)
        assert service_error(bad.create).status == 404


def test_list_secrets_filters_and_pages(env: Env) -> None:
    compartment = f"ocid1.compartment.oc1..{uuid.uuid4().hex}"
    names = [f"page-{i:02d}" for i in range(7)]
    for name in names:
        env.create(name, compartment_id=compartment)
    listed = oci.pagination.list_call_get_all_results(
        env.vaults.list_secrets, compartment, limit=3, sort_by="NAME"
    ).data
    assert [s.secret_name for s in listed] == names
    assert env.emu.calls["ListSecrets"] >= 3
    first = env.vaults.list_secrets(compartment, limit=3)
    assert first.has_next_page
    assert len(first.data) == 3
    only = env.vaults.list_secrets(compartment, name="page-03").data
    assert [s.secret_name for s in only] == ["page-03"]
    assert env.vaults.list_secrets(compartment, vault_id="ocid1.vault.oc1..other").data == []


def test_secret_deletion_happens_at_its_time() -> None:
    clock = ManualClock(time.time())
    with OciEmulator(clock=clock) as emu:
        env = make_env(emu)
        secret = env.create("expiring")
        when = datetime.fromtimestamp(clock.now(), UTC) + timedelta(days=1, minutes=5)
        details = models.ScheduleSecretDeletionDetails(time_of_deletion=when)
        env.vaults.schedule_secret_deletion(secret.id, details)
        clock.advance(86400)
        assert env.vaults.get_secret(secret.id).data.lifecycle_state == "PENDING_DELETION"
        clock.advance(600)
        assert env.vaults.get_secret(secret.id).data.lifecycle_state == "DELETED"
        assert env.create("expiring").id != secret.id  # the name is free again
        late = models.ScheduleSecretDeletionDetails(
            time_of_deletion=datetime.fromtimestamp(clock.now(), UTC) + timedelta(days=31)
        )
        again = env.create("too-late")
        assert service_error(env.vaults.schedule_secret_deletion, again.id, late).status == 400


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["CURRENT", "PENDING"]), min_size=1, max_size=12))
def test_stage_invariants_hold_for_any_write_sequence(writes: list[str]) -> None:
    @dataclass
    class V:
        number: int
        stages: list[str]

    versions = [V(1, ["CURRENT", "LATEST"])]
    for n, stage in enumerate(writes, start=2):
        new = V(n, [])
        versions.append(new)
        (make_current if stage == "CURRENT" else make_pending)(versions, new)
        holders = {s: [v.number for v in versions if s in v.stages] for s in ("CURRENT", "LATEST")}
        assert len(holders["CURRENT"]) == 1
        assert holders["LATEST"] == [n]
        assert all(v.stages for v in versions)
        assert sum("PREVIOUS" in v.stages for v in versions) <= 1
        assert sum("PENDING" in v.stages for v in versions) <= 1


@settings(max_examples=15, deadline=None)
@given(value=st.binary(min_size=0, max_size=2048))
def test_binary_content_round_trips(oci_emulator: OciEmulator, value: bytes) -> None:
    env = make_env(oci_emulator)
    secret = env.create(value=b"seed")
    env.write(secret.id, value)
    assert env.read(secret.id) == value


class _CountingDict(dict[str, Any]):
    """A dict that counts full walks (``values``/``items``/iteration)."""

    walks = 0

    def values(self) -> Any:
        type(self).walks += 1
        return super().values()

    def items(self) -> Any:
        type(self).walks += 1
        return super().items()

    def __iter__(self) -> Any:
        type(self).walks += 1
        return super().__iter__()


def test_lookups_and_expiry_never_walk_every_secret() -> None:
    clock = ManualClock(time.time())
    store = VaultStore(clock, "us-ashburn-1")
    vault_id, key_id = store.create_vault("ocid1.compartment.oc1..x")
    store.secrets = _CountingDict()
    content = {"content": base64.b64encode(b"v").decode()}
    created = [
        store.create(
            {
                "compartmentId": "ocid1.compartment.oc1..x",
                "secretName": f"s{i}",
                "vaultId": vault_id,
                "keyId": key_id,
                "secretContent": content,
            }
        )
        for i in range(50)
    ]
    store.schedule_deletion(created[7], None)
    clock.advance(31 * 86400)
    assert store.by_name(vault_id, "s3") is created[3]
    assert store.get(created[9].id) is created[9]
    assert store.by_name(vault_id, "s7") is None  # deleted: its name is free
    assert created[7].state == "DELETED"
    assert _CountingDict.walks == 0
