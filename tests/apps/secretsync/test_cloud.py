"""AWS Secrets Manager (moto server) -> OCI Vault (skybridge OCI emulator), with faults."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from skybridge.apps.secretsync.ownership import SOURCE_VERSION
from skybridge.core.clock import ManualClock
from skybridge.core.secret import Secret
from skybridge.testing.oci import OciEmulator
from skybridge.testing.servers import RunningServer

pytestmark = [pytest.mark.moto, pytest.mark.oci]
WRITES = ("UpdateSecret", "CreateSecret")


def _writes(emu: Any, before: Counter[str]) -> int:
    now = emu.calls
    return sum(now[op] - before[op] for op in WRITES)


def _aws_calls(sync: Any) -> Counter[str]:
    counts: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    sync.backends.get("aws").client.meta.events.register("before-call.secretsmanager", count)
    return counts


def test_redelivered_event_yields_exactly_one_oci_version(cloud: Any) -> None:
    sync = cloud.engine(cloud.mapping("db"))
    version, event = cloud.rotate("db", "first-value")
    before = Counter(cloud.emu.calls)
    outcomes = [o.action for _ in range(5) for o in sync.sync_event(event)]
    assert outcomes == ["created"] + ["unchanged"] * 4
    oci = cloud.oci(sync)
    [only] = oci.list_versions(cloud.name("db"))
    assert only.version_id == version  # the OCI version is named after the AWS VersionId
    assert _writes(cloud.emu, before) == 1
    assert oci.describe(cloud.name("db")).metadata[SOURCE_VERSION] == version


def test_young_targets_are_written_without_listing_versions(cloud: Any) -> None:
    sync = cloud.engine(cloud.mapping("young"))
    sync.sync_event(cloud.rotate("young", "v-0")[1])
    before = Counter(cloud.emu.calls)
    for i in range(1, 5):
        assert sync.sync_event(cloud.rotate("young", f"v-{i}")[1])[0].action == "updated"
    calls = Counter(cloud.emu.calls) - before
    assert calls["UpdateSecret"] == 4
    assert calls["ListSecretVersions"] == 0  # five versions cannot be near OCI's 30


def test_hundred_rotations_leave_at_most_thirty_active_versions(
    moto_server: RunningServer, cloud_rig: Any
) -> None:
    # OCI keeps a scheduled version deletion pending for at least a day (the backend asks for
    # the minimum) and allows only 30 pending at once, so rotations are spread over simulated
    # days on the emulator's clock, which the backend shares.
    clock = ManualClock(time.time())
    with OciEmulator(clock=clock) as emu:
        rig = cloud_rig(moto_server.url, emu)
        try:
            sync = rig.engine(rig.mapping("rot"))
            for i in range(100):
                _, event = rig.rotate("rot", f"rotation-{i}")
                assert sync.sync_event(event)[0].action in {"created", "updated"}
                clock.advance(86400)
            oci = rig.oci(sync)
            active = [v for v in oci.list_versions(rig.name("rot")) if v.is_active]
            assert 2 <= len(active) <= 30
            assert oci.get_value(rig.name("rot")).value.reveal() == "rotation-99"
        finally:
            rig.close()


def test_rotation_burst_beyond_oci_deletion_quota_is_dead_lettered_with_reason(cloud: Any) -> None:
    sync = cloud.engine(cloud.mapping("burst"))
    outcomes = []
    for i in range(62):  # 30 active + 30 pending deletion, then OCI refuses
        outcomes.append(sync.sync_event(cloud.rotate("burst", f"b-{i}")[1])[0])
    assert {o.action for o in outcomes[:59]} <= {"created", "updated"}
    assert outcomes[-1].action == "dead-lettered"
    assert "pending deletion" in outcomes[-1].detail


@pytest.mark.parametrize(
    ("operation", "status"),
    [("UpdateSecret", 429), ("UpdateSecret", 503), ("GetSecretBundleByName", 500)],
)
def test_injected_throttling_and_5xx_end_in_success(
    cloud: Any, operation: str, status: int
) -> None:
    sync = cloud.engine(cloud.mapping("flaky"))
    sync.sync_event(cloud.rotate("flaky", "one")[1])
    version, event = cloud.rotate("flaky", "two")
    cloud.emu.faults.inject(operation, status, times=2)
    [outcome] = sync.sync_event(event)
    assert (outcome.action, outcome.source_version) == ("updated", version)
    assert cloud.oci(sync).get_value(cloud.name("flaky")).value.reveal() == "two"
    assert sync.list_dead_letters() == []


def test_persistent_outage_dead_letters_then_replays(cloud: Any) -> None:
    sync = cloud.engine(cloud.mapping("down"))
    version, event = cloud.rotate("down", "during-outage")
    cloud.emu.faults.inject("*", 503, times=None)
    [outcome] = sync.sync_event(event)
    cloud.emu.faults.clear()
    assert outcome.action == "dead-lettered"
    [letter] = sync.list_dead_letters()
    assert letter.error_type == "TransientError"
    assert letter.attempts == 3
    assert letter.event["detail"]["versionId"] == version
    [replayed] = sync.replay()
    assert replayed.ok
    assert replayed.outcomes[0].action == "created"
    assert sync.list_dead_letters() == []


def test_oversize_payload_is_refused_before_writing(cloud: Any) -> None:
    small_oci = cloud.oci_url + "&max_value_size=100"
    sync = cloud.engine(cloud.mapping("big"), backends={"aws": cloud.aws_url, "oci": small_oci})
    _, event = cloud.rotate("big", "x" * 101)
    before = Counter(cloud.emu.calls)
    [outcome] = sync.sync_event(event)
    assert outcome.action == "dead-lettered"
    assert "101 bytes; oci-vault:// accepts at most 100" in outcome.detail
    assert _writes(cloud.emu, before) == 0
    plan = sync.reconcile(dry_run=True).plan
    assert plan.actions[0].action == "error"
    assert "at most 100" in plan.actions[0].reason


def test_out_of_order_events_never_regress_the_target(cloud: Any) -> None:
    sync = cloud.engine(cloud.mapping("order"))
    _, old_event = cloud.rotate("order", "old")
    new_version, new_event = cloud.rotate("order", "new")
    sync.sync_event(new_event)
    before = Counter(cloud.emu.calls)
    [late] = sync.sync_event(old_event)
    assert late.action == "stale"
    assert _writes(cloud.emu, before) == 0
    assert cloud.oci(sync).get_value(cloud.name("order")).version_id == new_version


def test_source_rollback_to_an_older_version_is_followed(cloud: Any) -> None:
    sync = cloud.engine(cloud.mapping("roll"))
    first, event1 = cloud.rotate("roll", "first")
    sync.sync_event(event1)
    second, event2 = cloud.rotate("roll", "second")
    sync.sync_event(event2)
    secret = cloud.name("roll")
    cloud.aws.client.update_secret_version_stage(
        SecretId=secret,
        VersionStage="AWSCURRENT",
        MoveToVersionId=first,
        RemoveFromVersionId=second,
    )
    arn = cloud.aws.describe(secret).secret_id
    [outcome] = sync.sync_event({**event1, "resources": [arn]})
    assert outcome.action == "updated"
    oci = cloud.oci(sync)
    assert oci.get_value(secret).value.reveal() == "first"
    assert sync.reconcile().writes == 0  # and reconcile agrees it is in sync


def test_cloudtrail_rotation_succeeded_reads_awscurrent(cloud: Any, ev: Any) -> None:
    sync = cloud.engine(cloud.mapping("ct"))
    version, _ = cloud.rotate("ct", "rotated")
    arn = cloud.aws.describe(cloud.name("ct")).secret_id
    event = ev.load("cloudtrail_rotation_succeeded")
    event["detail"]["additionalEventData"]["SecretId"] = arn
    [outcome] = sync.sync_event(event)
    assert (outcome.action, outcome.source_version) == ("created", version)
    [again] = sync.sync_event(ev.cloudtrail(arn, version))
    assert again.action == "unchanged"


def test_noop_reconcile_performs_zero_writes_and_reads_no_values(cloud: Any) -> None:
    sync = cloud.engine(*(cloud.mapping(f"quiet{i}") for i in range(3)))
    for i in range(3):
        sync.sync_event(cloud.rotate(f"quiet{i}", f"value-{i}")[1])
    aws_calls = _aws_calls(sync)
    before = Counter(cloud.emu.calls)
    report = sync.reconcile()
    assert [a.action for a in report.plan.actions] == ["noop"] * 3
    assert report.writes == 0
    assert _writes(cloud.emu, before) == 0
    assert dict(aws_calls) == {"DescribeSecret": 3}  # no GetSecretValue / BatchGet when in sync
    oci_calls = cloud.emu.calls - before
    assert sum(oci_calls.values()) == 3  # one bundle read per target


def test_missed_event_is_found_by_reconcile_with_one_batch_read(cloud: Any) -> None:
    sync = cloud.engine(cloud.mapping("m1"), cloud.mapping("m2"))
    sync.sync_event(cloud.rotate("m1", "a1")[1])
    sync.sync_event(cloud.rotate("m2", "b1")[1])
    v1, _ = cloud.rotate("m1", "a2")  # events lost
    v2, _ = cloud.rotate("m2", "b2")
    aws_calls = _aws_calls(sync)
    report = sync.reconcile()
    assert {(o.mapping, o.source_version) for o in report.outcomes} == {("m1", v1), ("m2", v2)}
    assert aws_calls["BatchGetSecretValue"] == 1
    assert aws_calls["GetSecretValue"] == 0


@pytest.mark.parametrize(("policy", "expected"), [("repair", "good"), ("report", "tampered")])
def test_out_of_band_oci_edit_is_repaired_or_reported(
    cloud: Any, policy: str, expected: str
) -> None:
    sync = cloud.engine(cloud.mapping(f"oob-{policy}", drift=policy))
    sync.sync_event(cloud.rotate(f"oob-{policy}", "good")[1])
    oci, secret = cloud.oci(sync), cloud.name(f"oob-{policy}")
    oci.put_value(secret, Secret("tampered"))  # console edit on OCI
    report = sync.reconcile()
    assert report.plan.actions[0].action == policy
    assert oci.get_value(secret).value.reveal() == expected
    [row] = sync.status()
    assert row.drift == ("in-sync" if policy == "repair" else "target-edited")
    if policy == "repair":
        before = Counter(cloud.emu.calls)
        assert sync.reconcile().writes == 0
        assert _writes(cloud.emu, before) == 0


def test_adopt_refusal_on_oci(cloud: Any) -> None:
    secret = cloud.name("taken")
    sync = cloud.engine(cloud.mapping("taken"))
    cloud.oci(sync).create(secret, Secret("someone-elses"))
    [outcome] = sync.sync_event(cloud.rotate("taken", "ours")[1])
    assert outcome.action == "dead-lettered"
    assert "adopt = true" in outcome.detail
    assert cloud.oci(sync).get_value(secret).value.reveal() == "someone-elses"
    assert sync.reconcile(dry_run=True).plan.actions[0].action == "refuse"


def test_binary_source_keeps_its_type_on_oci(cloud: Any) -> None:
    sync = cloud.engine(cloud.mapping("bin"))
    sync.sync_event(cloud.rotate("bin", bytes(range(256)))[1])
    got = cloud.oci(sync).get_value(cloud.name("bin"))
    assert got.is_binary
    assert got.value.reveal() == bytes(range(256))


def test_oci_credentials_from_an_aws_secret(cloud: Any) -> None:
    creds = cloud.name("oci-api-key")
    cloud.aws.create(creds, Secret(json.dumps(cloud.emu.sdk_config())))
    backends = {
        "aws": cloud.aws_url,
        "oci": {"url": cloud.oci_url, "credentials_from": {"backend": "aws", "secret": creds}},
    }
    sync = cloud.engine(cloud.mapping("viacreds"), backends=backends, oci_options={})
    version, event = cloud.rotate("viacreds", "hello")
    assert sync.sync_event(event)[0].target_version == version
