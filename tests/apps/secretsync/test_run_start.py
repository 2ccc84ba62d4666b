"""Every reconcile run starts the same way (``ReconcileRuns.start``): the run is recorded with
the options it then reconciles with, and the CLI, the scheduled job and the background runs of
the HTTP routes and the dashboard each start theirs through it, with their own trigger."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from skybridge.apps.kit.context import AppContext
from skybridge.apps.secretsync.runs import ReconcileRuns, StartedRun, start_background
from skybridge.apps.secretsync.schedule import reconcile_run
from skybridge.apps.secretsync.service import build_service, open_service
from skybridge.cli import build_cli
from skybridge.runtime.scheduler import JobRun

from .test_routes import ctx, settings

__all__ = ["ctx", "settings"]  # fixtures of test_routes, used here


def test_a_started_run_reconciles_with_the_options_it_was_recorded_with(
    ctx: AppContext[Any],
) -> None:
    told: list[tuple[str, int, int]] = []
    with open_service(ctx) as svc:
        runs = ReconcileRuns(svc.state)
        started = runs.start(
            svc.engine,
            mappings=["db"],
            full=True,
            trigger="cli",
            progress=lambda *seen: told.append(seen),
        )
        assert runs.get(started.run.id).status == "running"
        ended, report = started.execute()
        shown = runs.view(runs.get(ended.id))
    assert (ended.status, ended.mappings, ended.full, ended.dry_run) == (
        "succeeded",
        ["db"],
        True,
        False,
    )
    assert [a.mapping for a in report.plan.actions] == ["db"]  # only the mapping recorded
    assert report.writes == 1
    assert shown["report"]["writes"] == 1
    assert ("plan", 1, 1) in told  # the caller hears the progress the record gets
    assert told[-1] == ("apply", 1, 1)
    assert shown["progress"] == {"phase": "done", "done": 1, "total": 1}


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The options of every run started, in order."""
    seen: list[dict[str, Any]] = []
    real = ReconcileRuns.start

    def start(self: ReconcileRuns, engine: Any, **options: Any) -> StartedRun:
        seen.append({k: v for k, v in options.items() if k != "progress"})
        return real(self, engine, **options)

    monkeypatch.setattr(ReconcileRuns, "start", start)
    return seen


def test_the_cli_the_schedule_and_background_runs_all_start_through_it(
    ctx: AppContext[Any], starts: list[dict[str, Any]]
) -> None:
    cli = CliRunner().invoke(build_cli(), ["secrets", "reconcile", "-m", "db", "--full", "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout)["writes"] == 1
    with open_service(ctx) as svc:
        counts = reconcile_run(svc.engine)(JobRun("secretsync.reconcile", 0.0, "w", 1))
    assert counts == {"mappings": 2, "changes": 1, "writes": 1, "errors": 0}
    background = start_background(build_service(ctx), dry_run=True, trigger="page")  # closes it
    background.thread.join(10)
    assert not background.thread.is_alive()
    assert starts == [
        {"full": True, "mappings": ["db"], "trigger": "cli"},
        {"trigger": "schedule"},
        {"dry_run": True, "full": False, "mappings": None, "trigger": "page"},
    ]
    with open_service(ctx) as svc:
        runs = ReconcileRuns(svc.state).recent()
    assert [(r.trigger, r.status, r.dry_run) for r in runs] == [
        ("page", "succeeded", True),
        ("schedule", "succeeded", False),
        ("cli", "succeeded", False),
    ]
