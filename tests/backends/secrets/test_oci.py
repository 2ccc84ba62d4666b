"""oci-vault:// against the skybridge OCI emulator: the contract, plus OCI-specific behaviour."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from skybridge.backends import secrets as secrets_family
from skybridge.backends.secrets.oci import OciVault
from skybridge.core.errors import (
    ConfigError,
    Conflict,
    NotFound,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.core.secret import Secret
from skybridge.testing.contracts.secrets import SecretsContract

if TYPE_CHECKING:
    from skybridge.testing.oci import OciEmulator

pytestmark = pytest.mark.oci


def _connect(emu: OciEmulator, **options: Any) -> OciVault:
    vault_id, key_id = emu.create_vault()
    url = (
        f"oci-vault://{vault_id}?key={key_id}&compartment={emu.compartment_id}"
        f"&endpoint={emu.endpoint}"
    )
    options.setdefault("config", emu.sdk_config())
    store = secrets_family.connect(url, **options)
    assert isinstance(store, OciVault)
    return store


@pytest.fixture
def store(oci_emulator: OciEmulator) -> Iterator[OciVault]:
    oci_emulator.faults.clear()
    with _connect(oci_emulator) as backend:
        yield backend
    oci_emulator.faults.clear()


class TestOci(SecretsContract):
    @pytest.fixture
    def secrets(self, store: OciVault) -> OciVault:
        return store


def _name() -> str:
    return f"oci-{uuid.uuid4().hex[:10]}"


def test_versions_are_named_after_version_ids(store: OciVault) -> None:
    name, version = _name(), str(uuid.uuid4())
    store.create(name, Secret("a"))
    store.put_value(name, Secret("b"), version_id=version)
    raw = store._oci.secrets.get_secret_bundle_by_name(name, store.vault_id).data
    assert (raw.version_name, raw.version_number) == (version, 2)
    assert store.get_value(name, version_id="2").version_id == version  # number works too


def test_redelivery_costs_no_new_version(store: OciVault, oci_emulator: OciEmulator) -> None:
    name, version = _name(), str(uuid.uuid4())
    store.create(name, Secret("a"))
    for _ in range(5):
        store.put_value(name, Secret("b"), version_id=version)
    assert len(store.list_versions(name)) == 2
    with pytest.raises(Conflict):
        store.put_value(name, Secret("c"), version_id=version)


def test_thirty_active_versions_and_pruning(store: OciVault) -> None:
    name = _name()
    store.create(name, Secret("0"))
    for i in range(1, 30):
        store.put_value(name, Secret(str(i)))
    with pytest.raises(Conflict, match="prune_versions"):
        store.put_value(name, Secret("30"))
    pruned = store.prune_versions(name, max_active=29)  # room for one more write
    assert len(pruned) == 1
    store.put_value(name, Secret("30"))
    versions = store.list_versions(name)
    assert sum(v.is_active for v in versions) == 30
    assert store.get_value(name).value.reveal() == "30"
    assert store.prune_versions(name) == []  # 30 is within the limit
    assert len(store.prune_versions(name, max_active=10)) == 20
    assert sum(v.is_active for v in store.list_versions(name)) == 10


def test_only_deprecated_versions_can_be_deleted(store: OciVault) -> None:
    name = _name()
    first = store.create(name, Secret("a")).version_id
    store.put_value(name, Secret("b"))
    with pytest.raises(Conflict, match="DEPRECATED"):
        store.schedule_version_deletion(name, first)  # PREVIOUS
    with pytest.raises(NotFound):
        store.schedule_version_deletion(name, "no-such-version")


def test_deleted_name_stays_reserved_with_hint(store: OciVault) -> None:
    name = _name()
    store.create(name, Secret("a"))
    store.delete(name, recovery_days=1)
    with pytest.raises(NotFound):
        store.get_value(name)
    with pytest.raises(Conflict, match="reserved") as caught:
        store.create(name, Secret("b"))
    assert "cancel the deletion" in str(caught.value)
    with pytest.raises(Conflict, match="reserved"):  # also when retried with a version id
        store.create(name, Secret("b"), version_id=str(uuid.uuid4()))
    with pytest.raises(Conflict, match="reserved"):
        store.upsert_value(name, Secret("b"))
    with pytest.raises(ValidationError, match="force_delete"):
        store.delete(name, force=True)


def test_a_create_after_a_delete_with_the_same_version_id_is_refused(store: OciVault) -> None:
    """OCI replays a create for 24 hours after a retry token was used: a token made from the
    name and version id made this create return the deleted secret, reported as written."""
    name, version = _name(), str(uuid.uuid4())
    store.create(name, Secret("a"), version_id=version)
    store.delete(name, recovery_days=1)
    with pytest.raises(Conflict, match="reserved"):
        store.create(name, Secret("a"), version_id=version)
    with pytest.raises(Conflict, match="reserved"):
        store.upsert_value(name, Secret("a"), version_id=version)


@pytest.mark.parametrize(("days", "version_days"), [(1, 1), (30, 30)])
def test_deletion_times_stay_inside_the_one_to_thirty_day_window(
    oci_emulator: OciEmulator, days: int, version_days: int
) -> None:
    """The window is checked when the request arrives: exactly one day from now is under it by
    then, and 30 days plus a margin was over it (every prune failed with 30)."""
    with _connect(oci_emulator, version_deletion_days=version_days) as store:
        name = _name()
        first = store.create(name, Secret("a")).version_id
        store.put_value(name, Secret("b"))
        store.put_value(name, Secret("c"))  # the first is DEPRECATED now
        store.schedule_version_deletion(name, first)
        gone = [v for v in store.list_versions(name) if v.version_id == first]
        assert gone
        assert gone[0].deletion_scheduled is not None
        store.delete(name, recovery_days=days)
        assert store.describe(name).deletion_date is not None


def test_an_unknown_stage_is_a_validation_error(store: OciVault) -> None:
    name = _name()
    store.create(name, Secret("a"))
    with pytest.raises(ValidationError, match="no stage 'AWSCURRENT'"):
        store.get_value(name, stage="AWSCURRENT")
    assert store.get_value(name, stage="latest").value.reveal() == "a"


def test_501_is_not_retried(oci_emulator: OciEmulator) -> None:
    with _connect(oci_emulator) as store:
        name = _name()
        store.create(name, Secret("a"))
        oci_emulator.reset_calls()
        oci_emulator.faults.inject("GetSecretBundleByName", 501, times=3)
        with pytest.raises(TerminalError):
            store.get_value(name)
        assert oci_emulator.calls["GetSecretBundleByName"] == 1
    oci_emulator.faults.clear()


@pytest.mark.parametrize("status", [429, 500, 503])
def test_injected_faults_surface_as_transient(oci_emulator: OciEmulator, status: int) -> None:
    with _connect(oci_emulator, retry=None) as store:
        name = _name()
        store.create(name, Secret("a"))
        oci_emulator.faults.inject("GetSecretBundleByName", status, times=1)
        with pytest.raises(TransientError):
            store.get_value(name)
        oci_emulator.faults.inject("UpdateSecret", status, times=1)
        with pytest.raises(TransientError):
            store.put_value(name, Secret("b"))
        assert store.get_value(name).value.reveal() == "a"


def test_transient_faults_are_retried_without_duplicates(
    store: OciVault, oci_emulator: OciEmulator
) -> None:
    name = _name()
    store.create(name, Secret("a"))
    oci_emulator.reset_calls()
    oci_emulator.faults.inject("UpdateSecret", 429, times=2)
    store.put_value(name, Secret("b"), version_id=str(uuid.uuid4()))
    assert oci_emulator.calls["UpdateSecret"] == 3
    assert len(store.list_versions(name)) == 2


def test_other_statuses(store: OciVault, oci_emulator: OciEmulator) -> None:
    name = _name()
    store.create(name, Secret("a"))
    oci_emulator.faults.inject("UpdateSecret", 412, times=3)
    with pytest.raises(Conflict, match="kept changing"):
        store.put_value(name, Secret("b"))
    oci_emulator.faults.inject("UpdateSecret", 409, times=1)
    with pytest.raises(Conflict):
        store.update_metadata(name, {"a": "b"})
    oci_emulator.faults.inject("UpdateSecret", 409, code="IncorrectState", times=5)
    with pytest.raises(TransientError):
        store.put_value(name, Secret("b"))


def test_wrong_key_is_terminal(oci_emulator: OciEmulator) -> None:
    with _connect(oci_emulator, config=oci_emulator.sdk_config(wrong_key=True)) as store:
        with pytest.raises(TerminalError, match="401") as caught:
            store.get_value("anything")
        assert "PRIVATE KEY" not in str(caught.value)


def test_binary_type_is_recorded_per_version(store: OciVault) -> None:
    name = _name()
    store.create(name, Secret(b"\x00bin"))
    store.put_value(name, Secret("text"))
    store.put_value(name, Secret(b"again"), metadata={"owner": "sync"})
    assert store.get_value(name, stage="previous").value.reveal() == "text"
    assert store.get_value(name).value.reveal() == b"again"
    got = store.get_value(name)
    assert got.metadata == {"owner": "sync"}  # the reserved key stays hidden
    assert dict(store.describe(name).metadata) == {"owner": "sync"}


def test_default_size_limit_is_configurable(oci_emulator: OciEmulator) -> None:
    with _connect(oci_emulator) as store:
        assert store.max_value_size == 25000
    small = _connect(oci_emulator, max_value_size=1000)
    with small, pytest.raises(ValidationError, match="1000"):
        small.create(_name(), Secret("x" * 1001))


def test_bad_auth_and_missing_key_are_config_errors(oci_emulator: OciEmulator) -> None:
    with pytest.raises(ConfigError, match="auth"):
        secrets_family.connect("oci-vault://ocid1.vault.oc1..x?auth=password")
    with pytest.raises(ConfigError, match="profile 'NOPE'"):
        secrets_family.connect(
            "oci-vault://ocid1.vault.oc1..x?config_file=/nonexistent&profile=NOPE"
        )
    with pytest.raises(ConfigError, match="fingerprint missing"):
        secrets_family.connect("oci-vault://ocid1.vault.oc1..x", config={"region": "r"})
    vault_id, _ = oci_emulator.create_vault()
    url = f"oci-vault://{vault_id}?endpoint={oci_emulator.endpoint}"
    keyless = secrets_family.connect(url, config=oci_emulator.sdk_config())
    with keyless, pytest.raises(ConfigError, match="key="):
        keyless.create(_name(), Secret("v"))


def test_config_file_and_profile(oci_emulator: OciEmulator, tmp_path: Path) -> None:
    config = oci_emulator.write_config(tmp_path, profile="EMU")
    vault_id, key_id = oci_emulator.create_vault()
    url = (
        f"oci-vault://{vault_id}?key={key_id}&endpoint={oci_emulator.endpoint}"
        f"&config_file={config}&profile=EMU"
    )
    with secrets_family.connect(url) as store:
        assert isinstance(store, OciVault)
        assert store.compartment_id == oci_emulator.tenancy_id  # defaults to the tenancy
        store.create("from-file", Secret("v"))
        assert [ref.name for ref in store.list()] == ["from-file"]
        store.ping()


def test_unreachable_endpoint_is_transient(oci_emulator: OciEmulator) -> None:
    from skybridge.testing.servers import free_port

    vault_id, _ = oci_emulator.create_vault()
    url = f"oci-vault://{vault_id}?compartment=x&endpoint=http://127.0.0.1:{free_port()}"
    store = secrets_family.connect(url, config=oci_emulator.sdk_config(), retry=None)
    with store, pytest.raises(TransientError):
        store.get_value("anything")
