"""oci-vault:// capability ``change_feed``: Vault writes read back from the emulated Audit API."""

from __future__ import annotations

import secrets as random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from skybridge.backends import secrets as secrets_family
from skybridge.backends.secrets.oci import OciVault
from skybridge.backends.secrets.oci_audit import minute_window
from skybridge.backends.secrets.types import ChangeFeed, SecretChange
from skybridge.core.clock import ManualClock
from skybridge.core.errors import ConfigError, NotFound, TransientError, ValidationError
from skybridge.core.secret import Secret
from skybridge.testing.oci import OciEmulator

pytestmark = pytest.mark.oci


def _compartment() -> str:
    return f"ocid1.compartment.oc1..aaaaaaaa{random.token_hex(20)}"


def _connect(emu: OciEmulator, compartment: str, query: str = "", **options: Any) -> OciVault:
    vault_id, key_id = emu.create_vault(compartment)
    url = (
        f"oci-vault://{vault_id}?key={key_id}&compartment={compartment}"
        f"&endpoint={emu.endpoint}{query}"
    )
    store = secrets_family.connect(url, config=emu.sdk_config(), retry=None, **options)
    assert isinstance(store, OciVault)
    return store


@pytest.fixture
def compartment(oci_emulator: OciEmulator) -> Iterator[str]:
    oci_emulator.faults.clear()
    yield _compartment()
    oci_emulator.faults.clear()


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(minutes=2), now + timedelta(minutes=2)


def test_feed_reports_every_kind_of_write_with_the_caller(
    oci_emulator: OciEmulator, compartment: str
) -> None:
    store = _connect(oci_emulator, compartment)
    name = f"feed-{uuid.uuid4().hex[:8]}"
    ids = [str(uuid.uuid4()) for _ in range(3)]
    store.create(name, Secret("a"), version_id=ids[0])
    store.put_value(name, Secret("b"), version_id=ids[1])
    store.put_value(name, Secret("c"), version_id=ids[2])
    store.get_value(name)  # reads are audited by OCI too, but they change nothing
    store.schedule_version_deletion(name, ids[0])
    store.update_metadata(name, {"k": "v"})
    store.delete(name, recovery_days=7)
    feed = store.changed_since(*_window())
    assert [c.operation for c in feed.about(name)] == [
        "CreateSecret",
        "UpdateSecret",
        "UpdateSecret",
        "ScheduleSecretVersionDeletion",
        "UpdateSecret",
        "ScheduleSecretDeletion",
    ]
    assert {c.principal_id for c in feed.changes} == {oci_emulator.user_id}
    assert store.principal_id == oci_emulator.user_id
    assert [c.time for c in feed.changes] == sorted(c.time for c in feed.changes)


def test_feed_keeps_to_its_vault_and_window(oci_emulator: OciEmulator, compartment: str) -> None:
    ours, other = _connect(oci_emulator, compartment), _connect(oci_emulator, compartment)
    elsewhere = _connect(oci_emulator, _compartment())
    ours.create("mine", Secret("1"))
    other.create("theirs", Secret("2"))
    elsewhere.create("far", Secret("3"))
    feed = ours.changed_since(*_window())
    assert [c.name for c in feed.changes] == ["mine"]
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert ours.changed_since(later, later + timedelta(minutes=1)).changes == ()


def test_feed_reads_every_page(oci_emulator: OciEmulator, compartment: str) -> None:
    store = _connect(oci_emulator, compartment)
    store.create("busy", Secret("0"))
    for i in range(120):
        store.update_metadata("busy", {"n": str(i)})
    before = oci_emulator.calls["ListEvents"]
    feed = store.changed_since(*_window())
    assert len(feed.about("busy")) == 121  # the writes; the reads among them are skipped
    listed = [e for e in oci_emulator.audit_events() if e.compartment_id == compartment]
    assert len(listed) > 121  # reads are audited too
    assert oci_emulator.calls["ListEvents"] - before == -(-len(listed) // 100)  # 100 a page


def test_late_events_appear_under_their_own_time() -> None:
    clock = ManualClock(time.time())
    with OciEmulator(clock=clock) as emu:
        emu.audit_delay = 3600  # listed an hour after the call (emulator clock)
        store = _connect(emu, _compartment())
        window = _window()
        store.create("late", Secret("0"))
        assert store.changed_since(*window).changes == ()
        clock.advance(3599)
        assert store.changed_since(*window).changes == ()
        clock.advance(1)
        [change] = store.changed_since(*window).changes
        assert change.name == "late"
        assert change.time < window[1]  # under the time of the call, not of the listing


def test_minute_window_rounds_outwards() -> None:
    since = datetime(2025, 1, 1, 10, 0, 30, tzinfo=UTC)
    until = datetime(2025, 1, 1, 10, 5, 0, 1, tzinfo=UTC)
    assert minute_window(since, until) == (
        datetime(2025, 1, 1, 10, 0, tzinfo=UTC),
        datetime(2025, 1, 1, 10, 6, tzinfo=UTC),
    )
    exact = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    assert minute_window(exact, exact) == (exact, exact + timedelta(minutes=1))


@pytest.mark.parametrize(("status", "error"), [(503, TransientError), (404, NotFound)])
def test_feed_errors_are_translated(
    oci_emulator: OciEmulator, compartment: str, status: int, error: type[Exception]
) -> None:
    store = _connect(oci_emulator, compartment)
    oci_emulator.faults.inject("ListEvents", status)
    with pytest.raises(error, match="ListEvents"):
        store.changed_since(*_window())


def test_feed_can_be_switched_off(oci_emulator: OciEmulator, compartment: str) -> None:
    store = _connect(oci_emulator, compartment, "&change_feed=false")
    assert not store.supports("change_feed")
    with pytest.raises(ValidationError, match="change_feed"):
        store.changed_since(*_window())
    with pytest.raises(ConfigError, match="change_feed"):
        _connect(oci_emulator, compartment, "&change_feed=maybe")


def test_separate_audit_endpoint(oci_emulator: OciEmulator, compartment: str) -> None:
    store = _connect(oci_emulator, compartment, "&audit_endpoint=http://127.0.0.1:9")
    store.create("x", Secret("1"))
    with pytest.raises(TransientError, match="could not reach"):
        store.changed_since(*_window())


def test_feed_answers_by_name_or_id_in_order() -> None:
    now = datetime.now(UTC)
    made = [("a", "app", "CreateSecret"), ("b", None, "UpdateSecret"), ("a", "app", "UpdateSecret")]
    changes = tuple(
        SecretChange(f"ocid1.vaultsecret.{n}", name, op, now + timedelta(seconds=i))
        for i, (n, name, op) in enumerate(made)
    )
    feed = ChangeFeed(now, now, changes)
    assert [c.operation for c in feed.about("app")] == ["CreateSecret", "UpdateSecret"]
    assert feed.about("ocid1.vaultsecret.a") == feed.about("app")
    assert [c.secret_id for c in feed.about("ocid1.vaultsecret.b")] == ["ocid1.vaultsecret.b"]
    assert feed.about("other") == []
    assert feed == ChangeFeed(now, now, changes)  # the index is not part of the value
