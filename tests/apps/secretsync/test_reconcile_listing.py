"""Reconcile reads its sources with one ``describe_many`` per source backend.

How a backend answers it (AWS: one ListSecrets listing for many secrets) is tested with the
backend in tests/backends/secrets; here: the plan, and the calls reconcile makes.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from skybridge.backends.secrets.aws_describe import LIST_THRESHOLD
from skybridge.core.errors import TransientError
from skybridge.core.secret import Secret

MANY = LIST_THRESHOLD + 1


def _aws_calls(sync: Any) -> Counter[str]:
    counts: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    sync.backends.get("aws").client.meta.events.register("before-call.secretsmanager", count)
    return counts


@pytest.mark.moto
@pytest.mark.oci
def test_many_mappings_are_planned_from_one_listing(cloud: Any) -> None:
    names = [f"many{i:02d}" for i in range(MANY)]
    for i, name in enumerate(names):
        cloud.rotate(name, f"value-{i}")
    sync = cloud.engine(*(cloud.mapping(n, deletion="retain") for n in names))
    assert sync.reconcile().writes == MANY  # creates every target

    aws_calls, before = _aws_calls(sync), Counter(cloud.emu.calls)
    report = sync.reconcile()
    assert {a.action for a in report.plan.actions} == {"noop"}
    assert dict(aws_calls) == {"ListSecrets": 1}
    # the targets are vouched for by one Audit page (the first reconcile read them all)
    assert cloud.emu.calls - before == Counter({"ListEvents": 1})

    rotated, _ = cloud.rotate(names[0], "missed-event")
    cloud.aws.delete(cloud.name(names[1]), recovery_days=7)
    aws_calls.clear()
    plan = {a.mapping: a for a in sync.reconcile(dry_run=True).plan.actions}
    assert (plan[names[0]].action, plan[names[0]].source_version) == ("update", rotated)
    assert plan[names[1]].action == "retain"  # confirmed by DescribeSecret, not the listing
    assert {plan[n].action for n in names[2:]} == {"noop"}
    assert dict(aws_calls) == {"ListSecrets": 1, "DescribeSecret": 1, "BatchGetSecretValue": 1}


def _count_describes(store: Any, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    describe = store._describe

    def counting(secret: str) -> Any:
        counts[secret] += 1
        return describe(secret)

    monkeypatch.setattr(store, "_describe", counting)
    return counts


def test_each_source_is_described_once_even_when_missing(
    rig: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.source.create("app/db", Secret("v"))
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"), rig.mapping("gone", "nope", "n-t"))
    counts = _count_describes(rig.source, monkeypatch)
    bulk = rig.source._describe_many

    def counting_bulk(secrets: list[str]) -> Any:  # the local store's own bulk read
        counts.update(secrets)
        return bulk(secrets)

    monkeypatch.setattr(rig.source, "_describe_many", counting_bulk)
    plan = sync.reconcile(dry_run=True).plan
    assert [(a.mapping, a.action) for a in plan.actions] == [("app", "create"), ("gone", "noop")]
    assert counts == {"app/db": 1, "nope": 1}


def test_failed_bulk_describe_falls_back_to_one_describe_per_mapping(
    rig: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.source.create("app/db", Secret("v"))
    rig.source.create("other", Secret("o"))
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"), rig.mapping("o", "other", "o-t"))
    bulk_calls: list[list[str]] = []

    def failing(secrets: Any) -> Any:
        bulk_calls.append(list(secrets))
        raise TransientError("bulk describe is down")

    monkeypatch.setattr(rig.source, "describe_many", failing)
    counts = _count_describes(rig.source, monkeypatch)
    report = sync.reconcile()
    assert [a.action for a in report.plan.actions] == ["create", "create"]
    assert report.writes == 2
    assert bulk_calls == [["app/db", "other"]] * 3  # FAST_RETRY: 3 attempts, then give up
    assert counts == {"app/db": 1, "other": 1}


@pytest.mark.moto
@pytest.mark.oci
def test_a_full_sweep_reads_targets_several_at_a_time(cloud: Any) -> None:
    names = [f"sweep{i:02d}" for i in range(16)]
    for i, name in enumerate(names):
        cloud.rotate(name, f"value-{i}")
    sync = cloud.engine(*(cloud.mapping(n) for n in names))
    sync.reconcile()  # creates every target
    cloud.emu.faults.delay("GetSecretBundleByName", 0.25)
    try:
        started = time.monotonic()
        report = sync.reconcile(full=True)
        elapsed = time.monotonic() - started
    finally:
        cloud.emu.faults.clear()
    assert [a.mapping for a in report.plan.actions] == names  # the plan keeps mapping order
    assert {(a.action, a.check) for a in report.plan.actions} == {
        ("noop", "read: full sweep (asked for)")
    }
    assert elapsed < 16 * 0.25 / 2, "16 reads of 0.25 s each should overlap"
