"""``skybridge features log compact`` (summary, ``--json``, ``--dry-run``, exit 2 on an unknown
view) and the app's scheduled job ``features.compact``."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skybridge.apps.features.offline import log_files
from skybridge.apps.features.store import open_store
from skybridge.apps.kit.background import build_job
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.cli import build_cli
from skybridge.runtime.scheduler import Scheduler
from skybridge.testing.service import fresh_workdir

from .logdata import PREFIX, VIEW, assert_counters_exact, snapshot, write_days
from .scenario import features_context


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fresh_workdir(tmp_path, monkeypatch)
    monkeypatch.setenv("SKYBRIDGE__FEATURES__COMPACT_AFTER", "0")
    return tmp_path


def _write_log() -> list[Any]:
    with open_store(features_context(), model=False, streams=False) as store:
        write_days(store.offline, time.time())
        return snapshot(store.objects)


def _state() -> tuple[list[str], list[Any]]:
    with open_store(features_context(), model=False, streams=False) as store:
        assert_counters_exact(store.online.kv, store.objects)
        return log_files(store.objects, VIEW, PREFIX), snapshot(store.objects)


def _cli(*args: str) -> Any:
    return CliRunner().invoke(build_cli(), ["features", "log", *args])


def test_compact_plans_then_merges_with_a_summary(workdir: Path) -> None:
    rows = _write_log()
    files, _ = _state()
    planned = _cli("compact", "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    report = json.loads(planned.stdout)
    by_view = {v["view"]: v for v in report["views"]}
    assert report["dry_run"] is True
    assert (by_view[VIEW]["files_before"], by_view[VIEW]["files_after"]) == (22, 3)
    assert by_view["user_feature_store"]["files_before"] == 0
    assert _state()[0] == files  # a dry run changes nothing

    done = _cli("compact", "--view", VIEW)
    assert done.exit_code == 0, done.output
    said = " ".join(done.stdout.split())
    assert (
        "merged 22 files (430 rows) into 3 files (400 rows): the log goes from 22 files to 3 files"
    ) in said
    assert re.search(r"realtime_features\W+22 -> 3\W+430\W+30\W", said), said
    after, read = _state()
    assert len(after) == 3
    assert read == rows

    again = _cli("compact", "--json")
    assert again.exit_code == 0, again.output
    total = json.loads(again.stdout)["total"]
    assert (total["merged_files"], total["files_after"], total["busy"]) == (0, 3, [])


def test_an_unknown_view_is_refused_with_exit_2(workdir: Path) -> None:
    refused = _cli("compact", "--view", "nope", "--json")
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.output.split())
    assert "no feature view 'nope'" in said
    assert "realtime_features" in said  # the views to choose from


def test_the_compaction_job_is_declared_and_compacts(workdir: Path) -> None:
    spec = find_app(discover_apps(), "features")
    assert "compact" in spec.jobs
    ctx = features_context()
    job = build_job(ctx, "compact")
    assert job.every == ctx.config.compact_every == 600.0
    rows = _write_log()
    with open_store(ctx, model=False, streams=False) as store:
        scheduler = Scheduler(store.online.kv, prefix="features/scheduler/")
        scheduler.every("features.compact", job.every or 0, job.run, lease_ttl=job.lease_ttl)
        assert scheduler.run_pending(time.time()) == []  # a new job first runs at its next tick
        tick = scheduler.state("features.compact").next_run
        assert tick is not None
        [run] = scheduler.run_pending(tick)
        result = scheduler.state("features.compact").last_result
    assert run.job == "features.compact"
    assert (result["merged_files"], result["files_after"]) == (22, 3), result
    after, read = _state()
    assert len(after) == 3
    assert read == rows
