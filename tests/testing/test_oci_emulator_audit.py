"""The emulator's Audit API (ListEvents) through the real oci SDK ``AuditClient``."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import oci
import pytest

from skybridge.core.clock import ManualClock
from skybridge.testing.oci import OciEmulator

pytestmark = pytest.mark.oci
NO_RETRY = oci.retry.NoneRetryStrategy()
models = oci.vault.models


def _content(value: bytes) -> Any:
    return models.Base64SecretContentDetails(content=base64.b64encode(value).decode())


class Env:
    def __init__(self, emu: OciEmulator) -> None:
        self.emu = emu
        self.compartment = f"ocid1.compartment.oc1..aaaaaaaa{uuid.uuid4().hex}"
        self.vault_id, self.key_id = emu.create_vault(self.compartment)
        cfg = emu.sdk_config()
        opts = {"service_endpoint": emu.endpoint, "retry_strategy": NO_RETRY}
        self.vaults = oci.vault.VaultsClient(cfg, **opts)
        self.audit = oci.audit.AuditClient(cfg, **opts)

    def create(self, name: str) -> Any:
        details = models.CreateSecretDetails(
            compartment_id=self.compartment,
            secret_name=name,
            vault_id=self.vault_id,
            key_id=self.key_id,
            secret_content=_content(b"v1"),
        )
        return self.vaults.create_secret(details).data

    def events(self, **kw: Any) -> list[Any]:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        start, end = now - timedelta(minutes=5), now + timedelta(minutes=5)
        return list(
            oci.pagination.list_call_get_all_results_generator(
                self.audit.list_events, "record", self.compartment, start, end, **kw
            )
        )


@pytest.fixture
def env(oci_emulator: OciEmulator) -> Iterator[Env]:
    oci_emulator.faults.clear()
    yield Env(oci_emulator)
    oci_emulator.faults.clear()


def test_vault_writes_are_listed_with_caller_and_resource(env: Env) -> None:
    secret = env.create("audited")
    env.vaults.update_secret(secret.id, models.UpdateSecretDetails(secret_content=_content(b"2")))
    [created, updated] = env.events()
    assert created.event_type == "com.oraclecloud.vaultmng.CreateSecret"
    assert updated.data.event_name == "UpdateSecret"
    for event in (created, updated):
        assert event.data.resource_id == secret.id
        assert event.data.resource_name == "audited"
        assert event.data.compartment_id == env.compartment
        assert event.data.identity.principal_id == env.emu.user_id
        assert event.data.identity.tenant_id == env.emu.tenancy_id
        assert event.data.request.path == (
            "/20180608/secrets" if event is created else f"/20180608/secrets/{secret.id}"
        )
        assert abs(event.event_time.timestamp() - time.time()) < 60
    assert created.event_time <= updated.event_time


def test_deletions_and_cancellations_are_listed(env: Env) -> None:
    secret = env.create("lifecycle")
    for value in (b"2", b"3"):  # version 1 becomes DEPRECATED
        content = models.UpdateSecretDetails(secret_content=_content(value))
        env.vaults.update_secret(secret.id, content)
    when = datetime.now(UTC) + timedelta(days=2)
    version = models.ScheduleSecretVersionDeletionDetails(time_of_deletion=when)
    env.vaults.schedule_secret_version_deletion(secret.id, 1, version)
    env.vaults.cancel_secret_version_deletion(secret.id, 1)
    whole = models.ScheduleSecretDeletionDetails(time_of_deletion=when)
    env.vaults.schedule_secret_deletion(secret.id, whole)
    env.vaults.cancel_secret_deletion(secret.id)
    assert [e.data.event_name for e in env.events()] == [
        "CreateSecret",
        "UpdateSecret",
        "UpdateSecret",
        "ScheduleSecretVersionDeletion",
        "CancelSecretVersionDeletion",
        "ScheduleSecretDeletion",
        "CancelSecretDeletion",
    ]


def test_reads_are_listed_like_writes(env: Env) -> None:
    secret = env.create("read-often")
    bundles = oci.secrets.SecretsClient(
        env.emu.sdk_config(), service_endpoint=env.emu.endpoint, retry_strategy=NO_RETRY
    )
    env.vaults.get_secret(secret.id)
    env.vaults.list_secret_versions(secret.id)
    env.vaults.get_secret_version(secret.id, 1)
    env.vaults.list_secrets(env.compartment)
    bundles.get_secret_bundle(secret.id)
    bundles.get_secret_bundle_by_name("read-often", env.vault_id)
    events = env.events()
    assert [(e.event_type, e.data.resource_name) for e in events[1:]] == [
        ("com.oraclecloud.vaultmng.GetSecret", "read-often"),
        ("com.oraclecloud.vaultmng.ListSecretVersions", "read-often"),
        ("com.oraclecloud.vaultmng.GetSecretVersion", "read-often"),
        ("com.oraclecloud.vaultmng.ListSecrets", None),
        ("com.oraclecloud.secretretrieval.GetSecretBundle", "read-often"),
        ("com.oraclecloud.secretretrieval.GetSecretBundleByName", "read-often"),
    ]
    assert {e.data.identity.principal_id for e in events} == {env.emu.user_id}
    assert events[4].data.compartment_id == env.compartment


def test_simulated_reads_are_listed_as_another_principals(env: Env) -> None:
    env.create("used-by-apps")
    env.emu.simulate_reads(env.vault_id, ["used-by-apps"] * 3)
    reads = env.events()[1:]
    assert [e.data.event_name for e in reads] == ["GetSecretBundleByName"] * 3
    assert len({e.data.identity.principal_id for e in reads}) == 1
    assert reads[0].data.identity.principal_id != env.emu.user_id
    with pytest.raises(KeyError):
        env.emu.simulate_reads(env.vault_id, ["no-such-secret"])


def test_pages_skip_other_compartments_and_unlisted_events() -> None:
    clock = ManualClock(time.time())
    with OciEmulator(clock=clock) as emu:
        mine, other = Env(emu), Env(emu)
        names = [f"s{i}" for i in range(5)]
        for name in names:
            mine.create(name)
            other.create(name)
        mine.emu.simulate_reads(mine.vault_id, names * 40)  # 200 reads
        for name in names:
            other.create(name + "-late")  # interleaved, another compartment
        emu.audit_delay = 60
        mine.create("not-yet-listed")
        now = datetime.fromtimestamp(clock.now(), UTC).replace(second=0, microsecond=0)
        window = (mine.compartment, now - timedelta(minutes=5), now + timedelta(minutes=5))
        pages = list(
            oci.pagination.list_call_get_all_results_generator(
                mine.audit.list_events, "response", *window
            )
        )
        assert [len(p.data) for p in pages] == [100, 100, 5]  # 5 creates, 200 reads
        assert all(e.data.compartment_id == mine.compartment for p in pages for e in p.data)


def test_failed_writes_are_not_listed(env: Env) -> None:
    secret = env.create("guarded")
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        env.vaults.update_secret(
            secret.id, models.UpdateSecretDetails(description="x"), if_match="stale"
        )
    assert caught.value.status == 412
    assert [e.data.event_name for e in env.events()] == ["CreateSecret"]


def test_compartment_filter_and_pagination(env: Env, oci_emulator: OciEmulator) -> None:
    other = Env(oci_emulator)
    other.create("elsewhere")
    secret = env.create("paged")
    for i in range(150):
        env.vaults.update_secret(secret.id, models.UpdateSecretDetails(description=str(i)))
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    window = (env.compartment, now - timedelta(minutes=5), now + timedelta(minutes=5))
    first = env.audit.list_events(*window)
    assert len(first.data) == 100
    assert first.has_next_page
    second = env.audit.list_events(*window, page=first.next_page)
    assert len(second.data) == 51
    assert not second.has_next_page
    assert {e.data.resource_name for e in first.data + second.data} == {"paged"}
    assert [e.data.resource_name for e in other.events()] == ["elsewhere"]


def test_calls_are_counted(env: Env) -> None:
    before = env.emu.calls["ListEvents"]
    env.events()
    env.events()
    assert env.emu.calls["ListEvents"] - before == 2


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2025, 1, 1, 10, 0, 5, tzinfo=UTC), None, "seconds must be 0"),
        (datetime(2025, 1, 1, 10, 0, tzinfo=UTC), "same", "later than startTime"),
    ],
)
def test_times_must_be_whole_minutes_and_ordered(
    env: Env, start: datetime, end: Any, message: str
) -> None:
    stop = start if end == "same" else datetime(2025, 1, 1, 11, 0, tzinfo=UTC)
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        env.audit.list_events(env.compartment, start, stop)
    assert (caught.value.status, caught.value.code) == (400, "InvalidParameter")
    assert message in caught.value.message


def test_window_bounds_are_start_inclusive_end_exclusive() -> None:
    clock = ManualClock(datetime(2025, 1, 1, 10, 0, tzinfo=UTC).timestamp())
    with OciEmulator(clock=clock, verify_signatures=False) as emu:
        env = Env(emu)
        env.create("at-ten")  # eventTime 10:00:00.000 exactly
        ten = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
        minute = timedelta(minutes=1)
        assert len(env.audit.list_events(env.compartment, ten, ten + minute).data) == 1
        assert env.audit.list_events(env.compartment, ten - minute, ten).data == []


def test_audit_delay_hides_events_until_due_and_faults_apply() -> None:
    clock = ManualClock(time.time())
    with OciEmulator(clock=clock) as emu:
        env = Env(emu)
        emu.audit_delay = 900
        env.create("slow")
        assert env.events() == []
        assert len(emu.audit_events()) == 1  # recorded, not yet listed
        clock.advance(900)
        [event] = env.events()
        assert event.data.resource_name == "slow"
        emu.faults.inject("ListEvents", 503)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        with pytest.raises(oci.exceptions.ServiceError) as caught:
            env.audit.list_events(env.compartment, now, now + timedelta(minutes=1))
        assert caught.value.status == 503
        emu.reset()
        assert emu.audit_delay == 900  # a reset keeps the configured delay
        assert emu.audit_events() == []


def test_a_second_user_is_trusted_and_attributed(env: Env) -> None:
    secret = env.create("shared")
    other = env.emu.add_user()
    assert other["user"] != env.emu.user_id
    vaults = oci.vault.VaultsClient(other, service_endpoint=env.emu.endpoint)
    vaults.update_secret(secret.id, models.UpdateSecretDetails(description="by someone else"))
    principals = [e.data.identity.principal_id for e in env.events()]
    assert principals == [env.emu.user_id, other["user"]]
