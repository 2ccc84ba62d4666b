"""secretsync local-to-local: the engine's rules without any server."""

from __future__ import annotations

import json
import random
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.secretsync import SecretSync, manual_event
from skybridge.apps.secretsync.ownership import OWNER, SHA256, SOURCE_VERSION
from skybridge.core.secret import Secret


def _vid() -> str:
    return str(uuid.uuid4())


def _event(secret: str, version: str | None) -> dict[str, Any]:
    return manual_event(secret, version)


def _put(rig: Any, name: str, value: str) -> str:
    return str(rig.source.upsert_value(name, Secret(value), version_id=_vid()).version_id)


def test_event_creates_target_with_ownership_metadata(rig: Any) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    version = _put(rig, "app/db", "v1-value")
    [outcome] = sync.sync_event(_event("app/db", version))
    assert (outcome.action, outcome.source_version, outcome.target_version) == (
        "created",
        version,
        version,
    )
    got = rig.target.get_value("app-db")
    assert got.value.reveal() == "v1-value"
    meta = rig.target.describe("app-db").metadata
    assert meta[OWNER] == "test-owner"
    assert meta[SOURCE_VERSION] == version
    assert meta[SHA256] == Secret("v1-value").sha256()
    [record] = sync.audit_log()
    assert (record.mapping, record.action, record.actor) == ("app", "created", "pytest")
    assert record.sha256_prefix == Secret("v1-value").sha256()[:12]


def test_redelivery_writes_nothing(rig: Any) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    version = _put(rig, "app/db", "v1-value")
    actions = [o.action for _ in range(4) for o in sync.sync_event(_event("app/db", version))]
    assert actions == ["created", "unchanged", "unchanged", "unchanged"]
    assert len(rig.target.list_versions("app-db")) == 1
    assert len(sync.audit_log()) == 1


def test_older_event_after_newer_never_regresses(rig: Any) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    old = _put(rig, "app/db", "old-value")
    new = _put(rig, "app/db", "new-value")
    assert sync.sync_event(_event("app/db", new))[0].action == "created"
    [late] = sync.sync_event(_event("app/db", old))
    assert late.action == "stale"
    assert rig.target.get_value("app-db").value.reveal() == "new-value"
    assert len(rig.target.list_versions("app-db")) == 1


def test_late_old_event_when_target_is_behind_syncs_current_instead(rig: Any) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    old = _put(rig, "app/db", "old-value")
    new = _put(rig, "app/db", "new-value")
    [outcome] = sync.sync_event(_event("app/db", old))  # the newer event has not arrived yet
    assert (outcome.action, outcome.source_version) == ("created", new)
    assert sync.sync_event(_event("app/db", new))[0].action == "unchanged"


def test_concurrent_shuffled_events_end_on_the_current_version(rig: Any) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    versions = [_put(rig, "app/db", f"value-{i}") for i in range(6)]
    events = [_event("app/db", v) for v in versions] * 2
    random.Random(7).shuffle(events)
    errors: list[BaseException] = []

    def deliver(event: dict[str, Any]) -> None:
        try:
            for outcome in sync.sync_event(event):
                assert outcome.action in {"created", "updated", "unchanged", "stale"}, outcome
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert rig.target.get_value("app-db").value.reveal() == "value-5"
    written = [r.source_version for r in reversed(sync.audit_log())]
    assert written[-1] == versions[-1]
    # every write moved forward: no version was written after a newer one
    assert written == sorted(written, key=versions.index)


def test_new_version_with_an_old_value_is_written(rig: Any) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    first = _put(rig, "app/db", "first")
    sync.sync_event(_event("app/db", first))
    second = _put(rig, "app/db", "second")
    sync.sync_event(_event("app/db", second))
    assert rig.target.get_value("app-db").value.reveal() == "second"
    back = _put(rig, "app/db", "first")
    [outcome] = sync.sync_event(_event("app/db", back))
    assert outcome.action == "updated"
    assert rig.target.get_value("app-db").value.reveal() == "first"


def test_fields_and_renames_reach_the_target(rig: Any) -> None:
    sync = rig.engine(
        rig.mapping("app", "app/db", "app-db", fields=["password"], rename={"password": "pw"})
    )
    version = _put(rig, "app/db", json.dumps({"user": "u", "password": "p4ss-CANARY"}))
    sync.sync_event(_event("app/db", version))
    assert json.loads(rig.target.get_value("app-db").value.reveal()) == {"pw": "p4ss-CANARY"}


def test_poison_event_is_dead_lettered_and_replays_after_the_fix(rig: Any) -> None:
    bad = rig.mapping("app", "app/db", "app-db", fields=["password"])
    sync = rig.engine(bad)
    version = _put(rig, "app/db", "plain-text-not-json")
    event = _event("app/db", version)
    [outcome] = sync.sync_event(event)
    assert outcome.action == "dead-lettered"
    sync.sync_event(event)  # redelivered poison: still one letter
    [letter] = sync.list_dead_letters()
    assert letter.letter_id == outcome.letter_id
    assert "not JSON" in letter.reason
    assert letter.error_type == "PoisonPayload"
    assert letter.event == event
    assert letter.attempts == 2
    assert sync.status()[0].dead_letters == 1
    assert sync.status()[0].drift == "error"
    [still_bad] = sync.replay()
    assert not still_bad.ok
    assert len(sync.list_dead_letters()) == 1

    fixed = rig.engine({k: v for k, v in bad.items() if k != "fields"})
    [result] = fixed.replay()
    assert result.ok
    assert result.outcomes[0].action == "created"
    assert fixed.list_dead_letters() == []
    assert rig.target.get_value("app-db").value.reveal() == "plain-text-not-json"
    assert fixed.status()[0].last_error is None


def test_unparseable_event_is_dead_lettered_without_mapping(rig: Any) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    [outcome] = sync.sync_event(b"{definitely not json")
    assert outcome.action == "dead-lettered"
    [letter] = sync.list_dead_letters()
    assert letter.mapping is None
    assert "not valid JSON" in letter.reason


def test_adopt_refusal_and_adoption(rig: Any) -> None:
    rig.target.create("app-db", Secret("hand-made"))
    version = _put(rig, "app/db", "synced")
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    [refused] = sync.sync_event(_event("app/db", version))
    assert refused.action == "dead-lettered"
    assert "adopt = true" in refused.detail
    assert rig.target.get_value("app-db").value.reveal() == "hand-made"
    adopting = rig.engine(rig.mapping("app", "app/db", "app-db", adopt=True))
    assert adopting.sync_event(_event("app/db", version))[0].action == "updated"
    assert rig.target.get_value("app-db").value.reveal() == "synced"


def test_another_owners_target_is_refused(rig: Any) -> None:
    version = _put(rig, "app/db", "v")
    rig.engine(rig.mapping("app", "app/db", "app-db"), owner="team-b").sync_event(
        _event("app/db", version)
    )
    ours = rig.engine(rig.mapping("app", "app/db", "app-db"), owner="team-a")
    [refused] = ours.sync_event(_event("app/db", _put(rig, "app/db", "v2")))
    assert refused.action == "dead-lettered"
    assert "managed by 'team-b'" in refused.detail


def test_reconcile_repairs_a_missed_event_then_has_nothing_to_do(rig: Any) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"), rig.mapping("other", "o", "o-t"))
    sync.sync_event(_event("app/db", _put(rig, "app/db", "v1")))
    sync.sync_event(_event("o", _put(rig, "o", "o1")))
    missed = _put(rig, "app/db", "v2")  # no event
    plan = sync.reconcile(dry_run=True).plan
    assert [(a.mapping, a.action) for a in plan.actions] == [("app", "update"), ("other", "noop")]
    assert missed in plan.actions[0].reason
    assert rig.target.get_value("app-db").value.reveal() == "v1"  # dry run wrote nothing
    report = sync.reconcile()
    assert report.writes == 1
    assert rig.target.get_value("app-db").value.reveal() == "v2"
    audit_before = len(sync.audit_log())
    state_before = {i.key: i.version for i in rig.kv.scan_prefix("")}
    again = sync.reconcile()
    assert again.writes == 0
    assert not again.plan.changes
    assert len(sync.audit_log()) == audit_before
    assert {i.key: i.version for i in rig.kv.scan_prefix("")} == state_before


def test_a_noop_reconcile_on_fresh_state_records_what_it_found(rig: Any) -> None:
    from skybridge.backends import kv

    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    version = _put(rig, "app/db", "v1")
    sync.sync_event(_event("app/db", version))
    written = sync.status()[0]
    fresh = SecretSync(
        sync.table,
        state=kv.connect("sqlite://", setting=None),
        stores={"src": rig.source, "dst": rig.target},
        actor="another",
    )
    report = fresh.reconcile()
    assert (report.writes, [a.action for a in report.plan.actions]) == (0, ["noop"])
    [row] = fresh.status()
    assert row.drift == "in-sync"
    assert row.last_source_version == version
    assert row.target_version == written.target_version
    assert row.synced_at is not None
    assert abs(row.synced_at - (written.synced_at or 0)) < 2  # the write time the target records


@pytest.mark.parametrize(
    ("policy", "action", "value"), [("repair", "repair", "good"), ("report", "report", "tampered")]
)
def test_out_of_band_target_edit(rig: Any, policy: str, action: str, value: str) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db", drift=policy))
    sync.sync_event(_event("app/db", _put(rig, "app/db", "good")))
    rig.target.put_value("app-db", Secret("tampered"))  # someone edits the target by hand
    report = sync.reconcile()
    assert [a.action for a in report.plan.actions] == [action]
    assert rig.target.get_value("app-db").value.reveal() == value
    assert sync.status()[0].drift == ("in-sync" if policy == "repair" else "target-edited")
    if policy == "repair":
        assert sync.reconcile().plan.actions[0].action == "noop"


def test_mapping_change_is_drift(rig: Any) -> None:
    version = _put(rig, "app/db", json.dumps({"a": 1, "b": 2}))
    rig.engine(rig.mapping("app", "app/db", "app-db")).sync_event(_event("app/db", version))
    narrowed = rig.engine(rig.mapping("app", "app/db", "app-db", fields=["a"]))
    assert narrowed.reconcile().plan.actions[0].action == "update"
    assert json.loads(rig.target.get_value("app-db").value.reveal()) == {"a": 1}


@pytest.mark.parametrize("policy", ["retain", "delete", "orphan"])
def test_deletion_policies(rig: Any, policy: str) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db", deletion=policy))
    sync.sync_event(_event("app/db", _put(rig, "app/db", "v")))
    rig.source.delete("app/db", force=True)
    report = sync.reconcile()
    expected = {"retain": "retain", "delete": "delete-target", "orphan": "orphan-target"}[policy]
    assert [a.action for a in report.plan.actions] == [expected]
    if policy == "delete":
        assert rig.target.describe("app-db").pending_deletion
    else:
        meta = rig.target.describe("app-db").metadata
        assert (OWNER in meta) == (policy == "retain")
        assert rig.target.get_value("app-db").value.reveal() == "v"
    assert sync.status()[0].drift == "source-deleted"
    assert sync.reconcile().writes == 0  # and it settles


def test_sync_mapping_and_status(rig: Any) -> None:
    sync: SecretSync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    version = _put(rig, "app/db", "v")
    outcome = sync.sync_mapping("app")
    assert outcome.action == "created"
    [row] = sync.status()
    assert (row.name, row.last_source_version, row.drift, row.dead_letters) == (
        "app",
        version,
        "in-sync",
        0,
    )
    assert row.synced_at is not None
    assert row.lag_seconds is not None
    assert row.lag_seconds >= 0
    assert json.dumps(row.to_dict())


def test_audit_records_have_to_dict_like_every_result(rig: Any) -> None:
    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    version = _put(rig, "app/db", "v1-value")
    sync.sync_event(_event("app/db", version))
    [record] = sync.audit_log()
    data = record.to_dict()
    assert (data["mapping"], data["action"], data["source_version"]) == ("app", "created", version)
    assert data["sha256_prefix"] == Secret("v1-value").sha256()[:12]
    assert "v1-value" not in json.dumps(data)


def test_audit_log_of_an_unknown_mapping_raises_not_found_like_sync_mapping(rig: Any) -> None:
    from skybridge.core.errors import NotFound

    sync = rig.engine(rig.mapping("app", "app/db", "app-db"))
    sync.sync_event(_event("app/db", _put(rig, "app/db", "v1")))
    assert [r.mapping for r in sync.audit_log(mapping="app")] == ["app"]
    with pytest.raises(NotFound, match="no mapping called 'nope'"):
        sync.audit_log(mapping="nope")
    with pytest.raises(NotFound, match="no mapping called 'nope'"):
        sync.sync_mapping("nope")


def test_state_may_be_given_as_a_kv_url(
    rig: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skybridge.apps.secretsync import table_from_dict

    table = table_from_dict(rig.table(rig.mapping("app", "app/db", "app-db")))
    stores = {"src": rig.source, "dst": rig.target}
    url = f"sqlite:///{tmp_path / 'kv.db'}"
    sync = SecretSync(table, state=url, stores=stores, actor="pytest")
    _put(rig, "app/db", "v1")
    assert sync.sync_mapping("app").action == "created"
    closed: list[bool] = []
    opened = sync.state.kv
    monkeypatch.setattr(opened, "close", lambda: closed.append(True))
    sync.close()
    assert closed == [True]  # connected here, so closed here
    again = SecretSync(table, state=url, stores=stores)
    assert [r.mapping for r in again.audit_log()] == ["app"]
    assert again.status()[0].drift == "in-sync"
    again.close()
    given = SecretSync(table, state=rig.kv, stores=stores)
    given.close()
    assert rig.kv.get_json("secretsync/nothing") is None  # a store passed in stays open


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        (3, "ValidationError", "state must be a kv store or a kv URL, got int"),
        ("nope://x", "ConfigError", "state: no kv backend for scheme 'nope://'"),
        ("kv.db", "ConfigError", "state: 'kv.db' is not a backend URL"),
    ],
)
def test_a_state_that_is_no_kv_store_is_refused_at_construction(
    rig: Any, state: Any, error: str, message: str
) -> None:
    from skybridge.apps.secretsync import table_from_dict
    from skybridge.core.errors import SkybridgeError

    table = table_from_dict(rig.table(rig.mapping("app", "app/db", "app-db")))
    with pytest.raises(SkybridgeError) as raised:
        SecretSync(table, state=state)
    assert type(raised.value).__name__ == error
    assert message in str(raised.value)
