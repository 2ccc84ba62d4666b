"""A reconcile that writes runs in the background: ``POST /api/secretsync/reconcile`` answers
202 with a run to follow at ``GET /api/secretsync/reconcile/{run_id}``; one run at a time per
deployment (the lease is in the kv store, so other processes see it); runs whose process died
are shown abandoned; the dashboard shows the run without waiting for it.

Every response is scanned for the canary secret values (``Scanned``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from skybridge.apps.kit.context import AppContext
from skybridge.apps.secretsync import page as page_module
from skybridge.apps.secretsync import router as router_module
from skybridge.apps.secretsync.reconcile import Plan, PlannedAction, ReconcileReport
from skybridge.apps.secretsync.reconcile_run import Reconciler
from skybridge.apps.secretsync.run_records import KEEP_RUNS, RUN_ID, ReconcileRun
from skybridge.apps.secretsync.runs import LEASE_TTL_S, BackgroundRun, ReconcileRuns, RunBusy
from skybridge.apps.secretsync.schedule import reconcile_run
from skybridge.apps.secretsync.service import open_service
from skybridge.apps.secretsync.state import StateStore
from skybridge.backends import kv
from skybridge.core.clock import ManualClock
from skybridge.core.config import Settings
from skybridge.core.errors import TransientError
from skybridge.runtime.scheduler import JobRun

from .test_routes import CANARIES, _csrf, _login, auth, client, ctx, settings

__all__ = ["auth", "client", "ctx", "settings"]  # fixtures of test_routes, used here
RECONCILE = "/api/secretsync/reconcile"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Holds every reconcile write until set (at most 60 s: a loaded machine can take 20 s to
    reach the checks made while the run is held), so a run is seen running."""
    opened = threading.Event()
    original = Reconciler._apply

    def held(self: Reconciler, *args: Any, **kwargs: Any) -> Any:
        opened.wait(60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Reconciler, "_apply", held)
    yield opened
    opened.set()


def _run(client: TestClient, auth: dict[str, str], run_id: str) -> dict[str, Any]:
    response = client.get(f"{RECONCILE}/{run_id}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _until(
    client: TestClient, auth: dict[str, str], run_id: str, status: str, within: float = 10.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while (body := _run(client, auth, run_id))["status"] != status:
        assert time.monotonic() < deadline, f"run {run_id} is {body['status']}, not {status}"
        time.sleep(0.05)
    return body


def _start(client: TestClient, auth: dict[str, str]) -> dict[str, Any]:
    response = client.post(RECONCILE, json={"dry_run": False}, headers=auth)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"{RECONCILE}/{body['id']}"
    return body


def test_a_reconcile_answers_202_and_its_run_goes_from_running_to_succeeded(
    client: TestClient, auth: dict[str, str], gate: threading.Event
) -> None:
    started = _start(client, auth)
    assert RUN_ID.match(started["id"])
    assert (started["status"], started["dry_run"], started["trigger"]) == ("running", False, "api")
    assert started["report"] is None
    running = _run(client, auth, started["id"])
    assert running["status"] == "running"
    assert running["finished_at"] is None
    assert running["running_on"].startswith(f"process {os.getpid()} on host ")
    deadline = time.monotonic() + 10
    while _run(client, auth, started["id"])["progress"]["phase"] != "apply":
        assert time.monotonic() < deadline, "the run never reached its writes"
        time.sleep(0.05)
    assert _run(client, auth, started["id"])["progress"] == {
        "phase": "apply",
        "done": 0,
        "total": 2,
    }
    gate.set()
    done = _until(client, auth, started["id"], "succeeded")
    assert done["finished_at"] >= done["started_at"]
    assert done["summary"] == {"mappings": 2, "changes": 2, "writes": 2, "errors": 0}
    report = done["report"]
    assert set(report) == {"dry_run", "plan", "outcomes", "errors", "writes"}
    assert report["writes"] == 2
    assert [(o["mapping"], o["action"]) for o in report["outcomes"]] == [
        ("db", "created"),
        ("key", "created"),
    ]
    status = client.get("/api/secretsync/status", headers=auth).json()
    assert {s["drift"] for s in status} == {"in-sync"}
    listed = client.get(RECONCILE, headers=auth).json()
    assert [(r["id"], r["status"], r["report"]) for r in listed] == [
        (started["id"], "succeeded", None)
    ]


def test_a_dry_run_answers_its_plan_at_once_or_runs_in_the_background_when_asked(
    client: TestClient, auth: dict[str, str]
) -> None:
    plan = client.post(RECONCILE, json={"dry_run": True}, headers=auth)
    assert plan.status_code == 200
    assert plan.json()["plan"]["changes"] == 2
    background = client.post(RECONCILE, json={"background": True}, headers=auth)
    assert background.status_code == 202, background.text
    done = _until(client, auth, background.json()["id"], "succeeded")
    assert (done["dry_run"], done["report"]["dry_run"], done["report"]["writes"]) == (True, True, 0)
    assert client.get("/api/secretsync/audit", headers=auth).json() == []  # nothing written


def test_a_second_reconcile_while_one_runs_is_refused_naming_it_in_every_process(
    client: TestClient, auth: dict[str, str], gate: threading.Event, ctx: AppContext[Any]
) -> None:
    first = _start(client, auth)
    second = client.post(RECONCILE, json={"dry_run": False, "full": True}, headers=auth)
    assert second.status_code == 409
    assert second.json()["run_id"] == first["id"]
    assert first["id"] in second.json()["message"]
    assert second.headers["Location"] == f"{RECONCILE}/{first['id']}"
    assert client.post(RECONCILE, headers=auth).status_code == 200  # a plan still answers
    still = _run(client, auth, first["id"])
    # held by the gate: else the checks below mislead (the record says why it ended)
    assert still["status"] == "running", json.dumps(still, indent=1)
    # the scheduled job (in a worker) leaves the tick to the run going
    with open_service(ctx) as svc:
        skipped = reconcile_run(svc.engine)(JobRun("secretsync.reconcile", 0.0, "w", 1))
    assert skipped == {"skipped": "another reconcile run was going", "run": first["id"]}
    # and so does the CLI, in a process of its own
    cli = subprocess.run(
        [sys.executable, "-m", "skybridge.cli", "secrets", "reconcile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert f"reconcile run {first['id']} is running" in cli.stderr
    gate.set()
    _until(client, auth, first["id"], "succeeded")
    again = client.post(RECONCILE, json={"dry_run": False}, headers=auth)
    assert again.status_code == 202
    _until(client, auth, again.json()["id"], "succeeded")


def test_a_failed_run_shows_failed_with_a_named_error_and_no_secret_values(
    client: TestClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(self: StateStore, mappings: list[str]) -> Any:
        raise TransientError(f"the state store answered 503 (it echoed {CANARIES[1]})")

    monkeypatch.setattr(StateStore, "get_many", down)
    started = _start(client, auth)
    failed = _until(client, auth, started["id"], "failed")
    assert failed["error_type"] == "TransientError"
    assert failed["error"] == "the state store answered 503 (it echoed ***)"
    assert (failed["report"], failed["summary"]) == (None, None)
    assert failed["finished_at"] is not None
    with kv.connect("sqlite:///.skybridge/kv.db", setting=None) as store:
        stored = b"".join(item.value for item in store.scan_prefix("secretsync/run"))
    assert CANARIES[1].encode() not in stored


_HOLDER = textwrap.dedent(
    """
    import time
    from skybridge.apps.kit.context import AppContext
    from skybridge.apps.kit.settings import load_settings
    from skybridge.apps.secretsync.manifest import APP
    from skybridge.apps.secretsync.runs import ReconcileRuns
    from skybridge.apps.secretsync.service import open_service

    with open_service(AppContext.create(APP, load_settings([APP]))) as svc:
        run, _ = ReconcileRuns(svc.state).begin(
            dry_run=False, full=False, mappings=None, trigger="cli"
        )
        print("RUN", run.id, flush=True)
        time.sleep(120)
    """
)


def test_a_run_whose_process_was_killed_is_abandoned_and_the_next_run_takes_over(
    client: TestClient, auth: dict[str, str], tmp_path: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert holder.stdout is not None
        lines = (line.split() for line in holder.stdout)
        run_id = next(words[1] for words in lines if words[:1] == ["RUN"])
        assert _run(client, auth, run_id)["status"] == "running"
        busy = client.post(RECONCILE, json={"dry_run": False}, headers=auth)
        assert busy.json()["run_id"] == run_id
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    gone = _run(client, auth, run_id)
    assert (gone["status"], gone["error_type"]) == ("abandoned", "Abandoned")
    assert re.search(rf"process {holder.pid} on host \S+ stopped", gone["error"])
    assert gone["finished_at"] is not None
    after = _start(client, auth)  # its lease was taken over at once
    _until(client, auth, after["id"], "succeeded")


def test_a_run_on_another_host_is_abandoned_when_its_lease_runs_out() -> None:
    clock = ManualClock(1_800_000_000.0)
    with kv.connect("sqlite://", setting=None) as store:
        runs = ReconcileRuns(store, clock=clock)
        run, _lease = runs.begin(dry_run=False, full=False, mappings=None, trigger="api")
        elsewhere = json.loads(store.get(f"secretsync/runs/{run.id}") or b"{}")
        elsewhere["holder"] = "other-host:4026531836:4242:0123456789ab.77"
        store.put_json(f"secretsync/runs/{run.id}", elsewhere)
        assert runs.get(run.id).status == "running"
        with pytest.raises(RunBusy, match="process 4242 on host other-host"):
            runs.begin(dry_run=False, full=False, mappings=None, trigger="api")
        clock.advance(LEASE_TTL_S + 1)
        gone = runs.get(run.id)
        assert (gone.status, gone.error) == (
            "abandoned",
            "the run did not finish: its lease ran out: the process running it stopped",
        )
        assert runs.begin(dry_run=False, full=False, mappings=None, trigger="api")


def test_history_keeps_the_last_runs_and_reports_of_any_size(tmp_path: Path) -> None:
    actions = [
        PlannedAction(f"mapping-{os.urandom(8).hex()}", "noop", "in sync") for _ in range(400)
    ]
    report = ReconcileReport(Plan(actions), dry_run=True)
    url = f"sqlite:///{tmp_path}/kv.db?max_value_size=2048"
    with kv.connect(url, setting=None) as store:
        runs = ReconcileRuns(store)
        ids = []
        for _ in range(KEEP_RUNS + 3):
            run, lease = runs.begin(dry_run=True, full=False, mappings=None, trigger="api")
            runs.execute(run, lease, lambda progress: report)
            ids.append(run.id)
        kept = runs.recent()
        assert [r.id for r in kept] == ids[::-1][:KEEP_RUNS]
        assert runs.records.load(ids[0]) is None
        last = runs.get(ids[-1])
        assert last.report_parts > 2  # the report did not fit one value of this store
        assert runs.view(last)["report"] == report.to_dict()
        assert not any(
            k.startswith(f"secretsync/run-reports/{ids[0]}") for k in store.keys("secretsync/")
        )


def test_a_read_token_follows_runs_but_cannot_start_one(
    client: TestClient, auth: dict[str, str]
) -> None:
    tokens = client.app.state.skybridge.tokens  # type: ignore[attr-defined]
    _, reader = tokens.create("reader", ["read"])
    read = {"Authorization": f"Bearer {reader.reveal()}"}
    refused = client.post(RECONCILE, json={"dry_run": False}, headers=read)
    assert refused.status_code == 403
    assert "secretsync:reconcile" in refused.text
    started = _start(client, auth)
    assert _until(client, read, started["id"], "succeeded")["summary"]["writes"] == 2
    assert client.get(RECONCILE, headers=read).status_code == 200
    assert client.get(f"{RECONCILE}/{started['id']}").status_code == 401
    missing = client.get(f"{RECONCILE}/20200101T000000000000Z-abcdef", headers=read)
    assert missing.status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert paths[f"{RECONCILE}/{{run_id}}"]["get"]["x-required-scope"] == "secretsync:read"
    assert {"202", "409"} <= set(paths[RECONCILE]["post"]["responses"])


def test_the_page_starts_a_run_and_shows_it_without_waiting(
    client: TestClient, gate: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page_module, "RUN_WAIT_S", 0.2)
    _login(client)
    page = client.get("/ui/secretsync").text
    assert "Last reconcile" not in page  # no run yet
    began = time.monotonic()
    running = client.post("/ui/secretsync", data={"csrf": _csrf(page), "action": "reconcile"})
    assert time.monotonic() - began < 5  # the gate holds the run for 10 s
    assert re.search(r"Running in the background: (starting|\w+ \d of 2 mappings)", running.text)
    run_id = re.search(r'data-run="([^"]+)" data-status="running"', running.text)
    assert run_id
    assert f'url=/ui/secretsync?run={run_id.group(1)}"' in running.text  # reloads itself
    again = client.post("/ui/secretsync", data={"csrf": _csrf(page), "action": "reconcile"})
    assert "A reconcile was already running" in again.text
    assert f'data-run="{run_id.group(1)}"' in again.text
    overview = client.get("/ui/secretsync").text
    assert "Last reconcile" in overview
    assert 'pill pill-info">running' in overview
    gate.set()
    deadline = time.monotonic() + 10
    while "Reconciled: 2 writes." not in (
        shown := client.get(f"/ui/secretsync?run={run_id.group(1)}").text
    ):
        assert time.monotonic() < deadline, "the run never finished on the page"
        time.sleep(0.05)
    assert "http-equiv" not in shown  # over: no more reloads
    assert shown.count("<tr data-mapping=") == 2
    assert 'pill pill-ok">succeeded' in client.get("/ui/secretsync").text


def test_the_cli_reconciles_in_the_foreground_as_a_recorded_run(
    ctx: AppContext[Any], auth: dict[str, str], client: TestClient
) -> None:
    from typer.testing import CliRunner

    from skybridge.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["secrets", "reconcile", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["writes"] == 2
    [run] = client.get(RECONCILE, headers=auth).json()
    assert (run["trigger"], run["status"], run["summary"]["writes"]) == ("cli", "succeeded", 2)


def test_run_answers_hide_file_locations_from_a_caller_without_the_locations_scope(
    client: TestClient,
    auth: dict[str, str],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 202 and the 409 leave the service as its other JSON answers do."""
    place = f"{Path(settings.data_dir).resolve()}/kv.db"
    busy = RunBusy("20260107T101500123456Z-3fa9c2", None)
    busy.hint = f"the kv store {place} is busy"
    run = ReconcileRun(
        "20260107T101500123456Z-3fa9c2", "running", False, False, None, "api", 0.0, "h:1:2:3.4"
    )
    answers: list[Any] = [busy, BackgroundRun(replace(run, error=f"open {place}"), None)]  # type: ignore[arg-type]

    def start(*args: Any, **kwargs: Any) -> Any:
        answer = answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(router_module, "start_background", start)
    tokens = client.app.state.skybridge.tokens  # type: ignore[attr-defined]
    operate = {"Authorization": f"Bearer {tokens.create('operator', ['operate'])[1].reveal()}"}
    cases = [(busy, 409, "hint", "<data_dir>/kv.db is busy"), (answers[1], 202, "error", "")]
    for answer, status, key, end in cases:
        answers[0] = answer
        hidden = client.post(RECONCILE, json={"dry_run": False}, headers=operate)
        assert hidden.status_code == status, hidden.text
        assert hidden.json()[key].endswith(end or "<data_dir>/kv.db")
        shown = client.post(RECONCILE, json={"dry_run": False}, headers=auth)
        assert place in shown.json()[key]
