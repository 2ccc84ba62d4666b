"""Secret values never reach logs, state, audit, dead letters, status, plans or errors."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest

from skybridge.apps.secretsync import manual_event
from skybridge.core.errors import SkybridgeError
from skybridge.core.secret import Secret
from skybridge.testing.canary import LogWatch


def test_no_value_leaks_anywhere(rig: Any, log_output: io.StringIO) -> None:
    canary = f"CANARY-{uuid.uuid4().hex}"
    json_canary = json.dumps({"password": canary, "user": "u"})
    sync = rig.engine(
        rig.mapping("plain", "plain", "plain-t"),
        rig.mapping("fields", "fields", "fields-t", fields=["password"]),
        rig.mapping("poison", "poison", "poison-t", fields=["password"]),
        rig.mapping("taken", "taken", "taken-t"),
    )
    rig.target.create("taken-t", Secret(canary + "-foreign"))
    shown: list[Any] = []
    for name, value in [
        ("plain", canary),
        ("fields", json_canary),
        ("poison", canary),
        ("taken", canary),
    ]:
        version = rig.source.create(name, Secret(value)).version_id
        shown += [o.to_dict() for o in sync.sync_event(manual_event(name, version))]
    rig.target.put_value("plain-t", Secret(canary + "-edited"))
    shown.append(sync.reconcile(dry_run=True).to_dict())
    shown.append(sync.reconcile().to_dict())
    shown += [row.to_dict() for row in sync.status()]
    shown += [r.to_dict() for r in sync.replay()]
    shown += [letter.to_dict() for letter in sync.list_dead_letters()]
    shown += [vars(record) for record in sync.audit_log()]
    try:
        sync.sync_mapping("poison")
    except Exception as exc:
        shown.append(str(exc))
    stored = [item.value.decode("utf-8", "replace") for item in rig.kv.scan_prefix("")]
    everything = json.dumps(shown, default=str) + "\n".join(stored) + log_output.getvalue()
    assert canary not in everything
    assert "secretsync.dead_lettered" in log_output.getvalue()  # the logs were captured
    assert len(stored) > 5
    assert rig.target.get_value("fields-t").value.reveal() == json.dumps(
        {"password": canary}, separators=(",", ":")
    )


def _sync_everything(rig: Any, values: list[str]) -> list[Any]:
    """Every secretsync path, once per value: sync, fields, poison, conflict, reconcile, status."""
    mappings = []
    for i in range(len(values)):
        mappings += [
            rig.mapping(f"plain{i}", f"plain{i}", f"plain{i}-t"),
            rig.mapping(f"fields{i}", f"fields{i}", f"fields{i}-t", fields=["password"]),
            rig.mapping(f"poison{i}", f"poison{i}", f"poison{i}-t", fields=["password"]),
            rig.mapping(f"taken{i}", f"taken{i}", f"taken{i}-t"),
        ]
    sync = rig.engine(*mappings)
    shown: list[Any] = []
    for i, value in enumerate(values):
        rig.target.create(f"taken{i}-t", Secret(value + "-foreign"))
        for name, payload in [
            (f"plain{i}", value),
            (f"fields{i}", json.dumps({"password": value, "user": "u"})),
            (f"poison{i}", value),
            (f"taken{i}", value),
        ]:
            version = rig.source.create(name, Secret(payload)).version_id
            shown += [o.to_dict() for o in sync.sync_event(manual_event(name, version))]
        rig.target.put_value(f"plain{i}-t", Secret(value + "-edited"))
    shown += [sync.reconcile(dry_run=True).to_dict(), sync.reconcile().to_dict()]
    shown += [row.to_dict() for row in sync.status()]
    shown += [r.to_dict() for r in sync.replay()]
    shown += [letter.to_dict() for letter in sync.list_dead_letters()]
    shown += [vars(record) for record in sync.audit_log()]
    with pytest.raises(SkybridgeError) as failure:
        sync.sync_mapping("poison0")
    return [*shown, str(failure.value)]


def test_short_and_long_values_never_reach_a_log_call(rig: Any, log_canary: LogWatch) -> None:
    shown = _sync_everything(rig, log_canary.canaries)
    log_canary.assert_no_leaks()
    assert any(where.startswith("log call 'secretsync.") for where, _ in log_canary.events)
    stored = [item.value.decode("utf-8", "replace") for item in rig.kv.scan_prefix("")]
    outputs = log_canary.scan(shown, "output") + log_canary.scan(stored, "stored state")
    assert [str(x) for x in outputs if x.kind == "clear value"] == []
    short = log_canary.canaries[0]
    assert rig.target.get_value("fields0-t").value.reveal() == json.dumps(
        {"password": short}, separators=(",", ":")
    )
