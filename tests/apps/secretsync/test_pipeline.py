"""The event path on the stream runtime and the scheduled reconcile (SQLite log, local stores)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.secretsync.letters import list_letters, replay_letters
from skybridge.apps.secretsync.manifest import APP
from skybridge.apps.secretsync.pipeline import build_pipeline, publish_change
from skybridge.apps.secretsync.schedule import reconcile_run
from skybridge.apps.secretsync.service import open_service
from skybridge.apps.secretsync.views import status_views
from skybridge.backends import kv, streams
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.backends.streams import StreamBackend
from skybridge.core.errors import TransientError
from skybridge.core.retry import RetryPolicy
from skybridge.core.secret import Secret
from skybridge.runtime.scheduler import Scheduler

from .conftest import local_table

FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, deadline=5.0)
TABLE = local_table("pipeline-test")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppContext[Any]:
    """The app's context in a fresh folder holding the two-mapping local table."""
    for key in list(os.environ):
        if key.startswith("SKYBRIDGE"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secretsync.toml").write_text(TABLE)
    return AppContext.create(APP, load_settings())


@pytest.fixture
def source(settings: AppContext[Any]) -> Iterator[LocalSecretStore]:
    store = LocalSecretStore(Path("src"))
    yield store
    store.close()


@pytest.fixture
def events(settings: AppContext[Any]) -> Iterator[StreamBackend]:
    backend = streams.connect("sqlite:///.skybridge/streams.db", setting=None)
    backend.create_topic("secretsync.events", 1)
    yield backend
    backend.close()


def target_value(name: str) -> str:
    with LocalSecretStore(Path("dst")) as target:
        value = target.get_value(name).value.reveal()
    assert isinstance(value, str)
    return value


def put(source: LocalSecretStore, secret: str, value: str) -> str:
    return str(source.upsert_value(secret, Secret(value)).version_id)


def drain(settings: AppContext[Any], **options: Any) -> Any:
    pipeline = build_pipeline(settings, poll_timeout=0.1, retry=FAST, **options)
    try:
        return pipeline.run(idle_exit=0.5)
    finally:
        pipeline.close()


def test_events_on_the_topic_are_synced(
    settings: AppContext[Any], source: LocalSecretStore, events: StreamBackend
) -> None:
    v1 = put(source, "app/key", "key-one")
    publish_change(events, "secretsync.events", "app/key", v1)
    v2 = put(source, "app/key", "key-two")
    publish_change(events, "secretsync.events", "app/key", v2)
    vdb = put(source, "app/db", json.dumps({"password": "pw-1", "user": "u"}))
    publish_change(events, "secretsync.events", "app/db", vdb)
    stats = drain(settings)
    assert (stats.records, stats.dead_letters) == (3, 0)
    assert target_value("app-key") == "key-two"
    assert json.loads(target_value("app-db")) == {"password": "pw-1"}
    with open_service(settings) as svc:
        rows = {r.name: r for r in svc.engine.status()}
        assert rows["key"].last_source_version == v2
        assert rows["db"].drift == "in-sync"
        assert [a.action for a in svc.engine.audit_log("key")] == ["created"]
    assert drain(settings).records == 0  # committed: nothing is processed twice


def test_poison_events_land_in_the_runtime_dlq_and_replay_after_the_fix(
    settings: AppContext[Any], source: LocalSecretStore, events: StreamBackend
) -> None:
    events.produce_one("secretsync.events", b"\xff not json")
    events.produce_one("secretsync.events", json.dumps({"no": "detail"}).encode())
    bad = put(source, "app/db", "this is not JSON")
    publish_change(events, "secretsync.events", "app/db", bad)
    stats = drain(settings)
    assert stats.dead_letters == 3
    with open_service(settings) as svc:
        letters = list_letters(svc)
        assert [x.store for x in letters] == ["stream"] * 3
        poison = next(x for x in letters if x.secret == "app/db")
        assert poison.mapping == "db"
        assert poison.reason.count("mapping 'db'") == 1
        assert {r["name"]: r["dead_letters"] for r in status_views(svc)} == {"db": 1, "key": 0}
        assert "mapping 'db'" in poison.reason
        assert "JSON" in poison.reason
        status = {r.name: r for r in svc.engine.status()}
        assert status["db"].drift == "error"
        assert status["db"].last_error
        put(source, "app/db", json.dumps({"password": "fixed"}))
        [replayed] = replay_letters(svc, [poison.id])
        assert replayed.ok  # synced here and now
        assert replayed.store == "stream"
    assert json.loads(target_value("app-db")) == {"password": "fixed"}
    assert drain(settings).records == 0  # a replay is not published again
    with open_service(settings) as svc:
        assert len(list_letters(svc)) == 2  # the replayed letter is gone; the others wait
        assert {r.name: r for r in svc.engine.status()}["db"].drift == "in-sync"


class FlakySource(LocalSecretStore):
    """A local store whose reads fail transiently ``failures`` times."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures
        self.reads = 0

    def get_value(self, secret: str, **kwargs: Any) -> Any:
        self.reads += 1
        if self.reads <= self.failures:
            raise TransientError("throttled (injected)")
        return super().get_value(secret, **kwargs)


def test_transient_failures_are_retried_then_dead_lettered(
    settings: AppContext[Any], source: LocalSecretStore, events: StreamBackend
) -> None:
    version = put(source, "app/key", "key-one")
    publish_change(events, "secretsync.events", "app/key", version)
    flaky = FlakySource(Path("src"), failures=1)
    assert drain(settings, stores={"src": flaky}).dead_letters == 0
    assert target_value("app-key") == "key-one"

    version = put(source, "app/key", "key-two")
    publish_change(events, "secretsync.events", "app/key", version)
    down = FlakySource(Path("src"), failures=10_000)
    stats = drain(settings, stores={"src": down})
    assert stats.dead_letters == 1
    assert down.reads >= FAST.attempts * 2  # retried by the engine, then by the runtime
    with open_service(settings) as svc:
        [letter] = list_letters(svc)
        assert letter.error_type == "TransientError"
        assert replay_letters(svc, None)[0].ok  # the source answers again: synced now
        assert list_letters(svc) == []
    assert target_value("app-key") == "key-two"


def test_scheduled_reconcile_runs_once_per_tick_across_two_schedulers(
    settings: AppContext[Any], source: LocalSecretStore
) -> None:
    put(source, "app/key", "key-one")
    put(source, "app/db", json.dumps({"password": "pw"}))
    shared = kv.connect("sqlite:///.skybridge/kv.db", setting=None)
    with open_service(settings) as one, open_service(settings) as two:
        schedulers = [
            Scheduler(shared, worker=name, prefix="secretsync/scheduler/") for name in "ab"
        ]
        schedulers[0].every("secretsync.reconcile", 60, reconcile_run(one.engine))
        schedulers[1].every("secretsync.reconcile", 60, reconcile_run(two.engine))
        start = 6_000.0
        assert [s.run_pending(start) for s in schedulers] == [[], []]  # baseline tick
        for tick in (1, 2):
            runs = [r for s in schedulers for r in s.run_pending(start + 60 * tick + 1)]
            assert len(runs) == 1
        state = schedulers[0].state("secretsync.reconcile")
        assert state.runs == 2
        assert state.failures == 0
        assert state.last_result == {"mappings": 2, "changes": 0, "writes": 0, "errors": 0}
        assert sorted(a.mapping for a in one.engine.audit_log()) == ["db", "key"]
    shared.close()


def test_worker_runs_the_apps_pipeline(
    settings: AppContext[Any], source: LocalSecretStore, events: StreamBackend
) -> None:
    from skybridge.cli import build_cli

    version = put(source, "app/key", "via-worker")
    publish_change(events, "secretsync.events", "app/key", version)
    spec = "secretsync.events"
    result = CliRunner().invoke(build_cli(), ["worker", "run", spec, "--idle-exit", "0.5"])
    assert result.exit_code == 0, result.output
    assert "Processed 1 record(s)" in result.stdout
    assert target_value("app-key") == "via-worker"


def test_worker_lists_the_apps_pipeline_and_jobs(settings: AppContext[Any]) -> None:
    from skybridge.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["worker", "list", "--json"])
    assert result.exit_code == 0, result.output
    targets = {row["target"] for row in json.loads(result.stdout)}
    assert {"secretsync.events", "secretsync.jobs"} <= targets
