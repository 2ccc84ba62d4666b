"""Reconcile learns many sources' current versions from one ListSecrets listing, not N describes."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from skybridge.apps.secretsync.reconcile_sources import LIST_THRESHOLD, common_prefix

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
    assert cloud.emu.calls - before == Counter({"GetSecretBundleByName": MANY})

    rotated, _ = cloud.rotate(names[0], "missed-event")
    cloud.aws.delete(cloud.name(names[1]), recovery_days=7)
    aws_calls.clear()
    plan = {a.mapping: a for a in sync.reconcile(dry_run=True).plan.actions}
    assert (plan[names[0]].action, plan[names[0]].source_version) == ("update", rotated)
    assert plan[names[1]].action == "retain"  # confirmed by DescribeSecret, not the listing
    assert {plan[n].action for n in names[2:]} == {"noop"}
    assert aws_calls["ListSecrets"] == 1
    assert aws_calls["DescribeSecret"] == 1
    assert aws_calls["BatchGetSecretValue"] == 1


def test_common_prefix_is_by_character() -> None:
    assert common_prefix(["prod/db-a", "prod/db-b", "prod/dx"]) == "prod/d"
    assert common_prefix(["a", "b"]) == ""
    assert common_prefix([]) == ""
