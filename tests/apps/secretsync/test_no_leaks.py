"""Secret values never reach logs, state, audit, dead letters, status, plans or errors."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from skybridge.apps.secretsync import manual_event
from skybridge.core.observability import configure_logging
from skybridge.core.secret import Secret


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", json_output=True, stream=stream)
    yield stream
    configure_logging("INFO", json_output=True)


def test_no_value_leaks_anywhere(rig: Any, log_stream: io.StringIO) -> None:
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
    everything = json.dumps(shown, default=str) + "\n".join(stored) + log_stream.getvalue()
    assert canary not in everything
    assert "secretsync.dead_lettered" in log_stream.getvalue()  # the logs were captured
    assert len(stored) > 5
    assert rig.target.get_value("fields-t").value.reveal() == json.dumps(
        {"password": canary}, separators=(",", ":")
    )
