"""Reconcile with the OCI Audit change feed: targets are read only when something says so.

moto (AWS Secrets Manager) -> the OCI emulator, whose Audit API records every Vault write.
Out-of-band edits are made with the oci SDK directly, as a second user (a console edit).
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import oci
import pytest

from skybridge.apps.secretsync.verify import WATERMARK, VerifyPolicy
from skybridge.backends.secrets.aws_describe import LIST_THRESHOLD
from skybridge.core.clock import ManualClock
from skybridge.testing.oci import OciEmulator
from skybridge.testing.servers import RunningServer

pytestmark = [pytest.mark.moto, pytest.mark.oci]
MANY = LIST_THRESHOLD + 5
BUNDLES = ("GetSecretBundleByName", "GetSecretBundle")


def _aws_calls(sync: Any) -> Counter[str]:
    counts: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    sync.backends.get("aws").client.meta.events.register("before-call.secretsmanager", count)
    return counts


def _edit_as_someone_else(rig: Any, config: dict[str, Any], suffix: str, value: bytes) -> None:
    """``UpdateSecret`` with the SDK as another user: a console edit skybridge did not make."""
    vaults = oci.vault.VaultsClient(config, service_endpoint=rig.emu.endpoint)
    secrets = oci.secrets.SecretsClient(config, service_endpoint=rig.emu.endpoint)
    bundle = secrets.get_secret_bundle_by_name(rig.name(suffix), rig.vault_id).data
    content = oci.vault.models.Base64SecretContentDetails(content=base64.b64encode(value).decode())
    details = oci.vault.models.UpdateSecretDetails(secret_content=content)
    vaults.update_secret(bundle.secret_id, details)


def _synced(rig: Any, names: list[str], **options: Any) -> Any:
    sync = rig.engine(*(rig.mapping(n) for n in names), **options)
    for name in names:
        sync.sync_event(rig.rotate(name, f"value-of-{name}")[1])
    first = sync.reconcile()  # no watermark yet: reads every target once
    assert {a.check for a in first.plan.actions} == {"read: full sweep (no earlier one)"}
    return sync


@pytest.fixture
def clocked(moto_server: RunningServer, cloud_rig: Any) -> Iterator[tuple[Any, ManualClock]]:
    """A rig whose emulator and engine share a manual clock (audit delays, sweep intervals)."""
    clock = ManualClock(time.time())
    with OciEmulator(clock=clock) as emu:
        rig = cloud_rig(moto_server.url, emu)
        try:
            yield rig, clock
        finally:
            rig.close()


def test_noop_reconcile_reads_no_target(cloud: Any) -> None:
    names = [f"quiet{i:02d}" for i in range(MANY)]
    sync = _synced(cloud, names)
    aws_calls, before = _aws_calls(sync), Counter(cloud.emu.calls)
    report = sync.reconcile()
    assert {a.action for a in report.plan.actions} == {"noop"}
    assert all(a.check.startswith("not read: no unexplained change") for a in report.plan.actions)
    assert report.writes == 0
    assert dict(aws_calls) == {"ListSecrets": 1}
    assert cloud.emu.calls - before == Counter({"ListEvents": 1})  # no bundle reads


@pytest.mark.parametrize(("policy", "expected"), [("repair", b"good"), ("report", b"tampered")])
def test_out_of_band_edit_is_found_in_audit(cloud: Any, policy: str, expected: bytes) -> None:
    names = ["edited", "calm"]
    sync = cloud.engine(*(cloud.mapping(n, drift=policy) for n in names))
    for name in names:
        sync.sync_event(cloud.rotate(name, "good")[1])
    sync.reconcile()
    _edit_as_someone_else(cloud, cloud.emu.add_user(), "edited", b"tampered")
    before = Counter(cloud.emu.calls)
    report = sync.reconcile()
    plan = {a.mapping: a for a in report.plan.actions}
    assert plan["edited"].action == policy
    assert plan["edited"].check.startswith("read: changed in audit (UpdateSecret by ocid1.user")
    assert plan["calm"].check.startswith("not read")
    calls = cloud.emu.calls - before
    # the edited target only: one plan read, plus the write path's own check when repairing
    assert sum(calls[op] for op in BUNDLES) == (1 if policy == "report" else 3)
    assert cloud.oci(sync).get_value(cloud.name("edited")).value.reveal() == expected.decode()
    if policy == "repair":
        assert sync.reconcile().plan.actions[0].check.startswith("not read")  # our own repair


def test_source_change_reads_only_that_target(cloud: Any) -> None:
    sync = _synced(cloud, ["a", "b", "c"])
    version, _ = cloud.rotate("b", "missed-event")
    before = Counter(cloud.emu.calls)
    report = sync.reconcile()
    plan = {a.mapping: a for a in report.plan.actions}
    assert (plan["b"].action, plan["b"].check) == ("update", "read: source changed")
    assert plan["b"].source_version == version
    assert {plan["a"].action, plan["c"].action} == {"noop"}
    calls = cloud.emu.calls - before
    assert calls["ListEvents"] == 1
    assert sum(calls[op] for op in BUNDLES) == 2  # plan read + the write's own check


@pytest.mark.parametrize("overlap", [1800.0, 0.0])
def test_late_audit_event_is_caught_by_the_overlap(clocked: Any, overlap: float) -> None:
    rig, clock = clocked
    rig.emu.audit_delay = 900  # Audit lists events up to 15 minutes late
    sync = _synced(rig, ["late", "other"], clock=clock, verify=VerifyPolicy(overlap=overlap))
    clock.advance(300)
    _edit_as_someone_else(rig, rig.emu.add_user(), "late", b"tampered")
    clock.advance(60)
    missed = sync.reconcile()  # the event is not listed yet
    assert [a.action for a in missed.plan.actions] == ["noop", "noop"]
    clock.advance(900)
    report = sync.reconcile()
    [late, other] = report.plan.actions
    assert other.action == "noop"
    if overlap:
        assert late.action == "repair"
        assert late.check.startswith("read: changed in audit")
        assert rig.oci(sync).get_value(rig.name("late")).value.reveal() == "value-of-late"
    else:  # without the overlap the late event falls before the window: only a sweep finds it
        assert late.action == "noop"
        assert sync.reconcile(full=True).plan.actions[0].action == "repair"


def test_own_credentials_editing_later_are_not_mistaken_for_our_write(clocked: Any) -> None:
    rig, clock = clocked
    sync = _synced(rig, ["same-user"], clock=clock)
    clock.advance(600)  # well past our write (and the clock-skew allowance)
    _edit_as_someone_else(rig, rig.emu.sdk_config(), "same-user", b"tampered")
    [action] = sync.reconcile().plan.actions
    assert action.action == "repair"


def test_change_feed_failure_falls_back_to_reading_every_target(cloud: Any) -> None:
    names = ["f1", "f2", "f3"]
    sync = _synced(cloud, names)
    _edit_as_someone_else(cloud, cloud.emu.add_user(), "f2", b"tampered")
    cloud.emu.faults.inject("ListEvents", 503, times=None)
    before = Counter(cloud.emu.calls)
    report = sync.reconcile()
    cloud.emu.faults.clear()
    plan = {a.mapping: a for a in report.plan.actions}
    assert all(a.check.startswith("read: change feed unavailable") for a in plan.values())
    assert plan["f2"].action == "repair"
    assert {plan["f1"].action, plan["f3"].action} == {"noop"}
    calls = cloud.emu.calls - before
    assert calls["GetSecretBundleByName"] >= 3
    assert calls["ListEvents"] >= 3  # retried, then the fallback
    assert all(a.check.startswith("not read") for a in sync.reconcile().plan.actions)


def test_full_sweep_every_interval_and_on_demand(clocked: Any) -> None:
    rig, clock = clocked
    sync = _synced(rig, ["s1", "s2"], clock=clock, verify=VerifyPolicy(full_interval=86400))
    clock.advance(3600)
    hourly = sync.reconcile()
    assert all(a.check.startswith("not read") for a in hourly.plan.actions)
    forced = sync.reconcile(full=True, dry_run=True)
    assert {a.check for a in forced.plan.actions} == {"read: full sweep (asked for)"}
    clock.advance(86400)
    before = Counter(rig.emu.calls)
    daily = sync.reconcile()
    assert all(a.check.startswith("read: full sweep (last one at") for a in daily.plan.actions)
    calls = rig.emu.calls - before
    assert (calls["GetSecretBundleByName"], calls["ListEvents"]) == (2, 0)
    mark = sync.state.kv.get_json(WATERMARK + "oci")
    assert mark == {"verified_at": clock.now(), "full_at": clock.now()}


def test_dry_runs_and_partial_reconciles_keep_the_watermark(cloud: Any) -> None:
    sync = _synced(cloud, ["p1", "p2"])
    mark = sync.state.kv.get_json(WATERMARK + "oci")
    sync.reconcile(dry_run=True)
    sync.reconcile(mappings=["p1"])
    assert sync.state.kv.get_json(WATERMARK + "oci") == mark
    sync.reconcile()
    assert sync.state.kv.get_json(WATERMARK + "oci")["verified_at"] > mark["verified_at"]


def test_settings_change_is_verified_by_a_read(cloud: Any) -> None:
    _synced(cloud, ["spec"])
    changed = cloud.engine(cloud.mapping("spec", binary="base64"))
    [action] = changed.reconcile(dry_run=True).plan.actions
    assert action.check == "read: mapping settings changed since the last check"
