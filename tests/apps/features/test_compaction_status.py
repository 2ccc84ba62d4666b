"""The offline log's last scheduled compaction (job ``features.compact``) on the features page
and in ``skybridge features status``: ``never`` before it runs, what it merged once it ran, and
its error when it failed; and the last compaction by hand (``skybridge features log compact``)
beside it. The job runs as ``skybridge up`` runs it: the kit's scheduler on ``backends.kv``."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skybridge.apps.features import maintenance
from skybridge.apps.features.maintenance import LastCompaction, last_compaction
from skybridge.apps.features.page import compaction_view
from skybridge.apps.features.store import open_store
from skybridge.apps.kit.background import build_job, run_jobs
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.cli import build_cli
from skybridge.core.errors import TransientError
from skybridge.testing.service import ServiceHarness, fresh_workdir, service_harness

from .logdata import write_days
from .scenario import features_context

MERGED = "22 files (430 rows) into 3 files; the log has 3 files"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fresh_workdir(tmp_path, monkeypatch)
    monkeypatch.setenv("SKYBRIDGE__FEATURES__COMPACT_AFTER", "0")
    monkeypatch.setenv("SKYBRIDGE__FEATURES__COMPACT_EVERY", "0.5")
    with open_store(features_context(), model=False, streams=False) as store:
        write_days(store.offline, time.time())
    return tmp_path


@pytest.fixture
def service(workdir: Path) -> Iterator[ServiceHarness]:
    with service_harness([find_app(discover_apps(), "features")]) as harness:
        harness.login()
        yield harness


def _last() -> LastCompaction:
    ctx = features_context()
    with open_store(ctx, model=False, streams=False) as store:
        return last_compaction(ctx, store)


def run_the_job_once() -> None:
    """The app's jobs under the kit's scheduler until the compaction has run once."""
    ctx = features_context()
    stop = threading.Event()
    thread = threading.Thread(
        target=run_jobs, args=(ctx, {"compact": build_job(ctx, "compact")}, stop)
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while _last().runs < 1:
            assert time.monotonic() < deadline, "the scheduled compaction never ran"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(60)


def _status() -> tuple[dict[str, Any], str]:
    cli = CliRunner()
    as_json = cli.invoke(build_cli(), ["features", "status", "--json"])
    assert as_json.exit_code == 0, as_json.output
    text = cli.invoke(build_cli(), ["features", "status"])
    assert text.exit_code == 0, text.output
    return json.loads(as_json.stdout)["compaction"], " ".join(text.stdout.split())


def _card(service: ServiceHarness) -> tuple[str, str]:
    """The page's compaction card and its stat."""
    page = service.client.get("/ui/features")
    assert page.status_code == 200
    card = re.search(r'<section class="card compaction".*?</section>', page.text, re.S)
    stat = re.search(r'compaction-stat">.*?<div class="stat-value([^"]*)">([^<]*)<', page.text)
    assert card, page.text
    assert stat, page.text
    return " ".join(card.group(0).split()), f"{stat.group(1).strip()}:{stat.group(2)}"


def test_before_the_job_runs_the_page_and_status_say_never(service: ServiceHarness) -> None:
    card, stat = _card(service)
    assert stat == ":never"
    assert 'data-status="never"' in card
    assert '<span class="pill pill-info">never</span> the job has not run yet' in card
    assert "not scheduled: no process has run the app's jobs yet" in card
    assert "every 500 ms" in card
    compaction, text = _status()
    assert compaction == {
        "status": "never",
        "ran_at": None,
        "next_run": None,
        "result": None,
        "error": None,
        "runs": 0,
        "failures": 0,
        "by_hand": None,
    }
    assert "offline log compaction: never run" in text
    assert "by hand" not in text


def test_after_the_job_ran_they_show_when_and_what_it_merged(service: ServiceHarness) -> None:
    run_the_job_once()
    card, stat = _card(service)
    assert re.fullmatch(r":\d s ago", stat), stat
    assert 'data-status="succeeded"' in card
    assert re.search(r'pill-ok">succeeded</span> \d s ago', card), card
    assert f'<dd class="merged">{MERGED}</dd>' in card
    assert '<dd class="runs">1</dd>' in card
    compaction, text = _status()
    assert (compaction["status"], compaction["error"], compaction["runs"]) == ("succeeded", None, 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", compaction["ran_at"])
    total = compaction["result"]
    assert (total["merged_files"], total["written_files"], total["files_after"]) == (22, 3, 3)
    assert re.search(rf"offline log compaction: succeeded \d s ago: {re.escape(MERGED)}", text)


def test_a_failed_run_shows_failed_with_its_error(
    service: ServiceHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise TransientError("the object store answered 503")

    monkeypatch.setattr(maintenance, "compact_log", unreachable)
    run_the_job_once()
    card, stat = _card(service)
    assert re.fullmatch(r"bad:\d s ago", stat), stat
    assert 'data-status="failed"' in card
    assert 'pill-bad">failed</span>' in card
    error = "TransientError: the object store answered 503"
    assert f'<dd class="error-text wrap-anywhere">{error}</dd>' in card
    assert "Merged" not in card
    assert '<dd class="runs">1, 1 failed</dd>' in card
    compaction, text = _status()
    assert (compaction["status"], compaction["error"], compaction["result"]) == (
        "failed",
        error,
        None,
    )
    assert compaction["failures"] == 1
    assert re.search(rf"offline log compaction: failed \d s ago: {error}", text)


def test_the_record_is_read_from_backends_kv_when_the_online_store_is_elsewhere(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__FEATURES__ONLINE", f"sqlite:///{workdir}/online.db")
    run_the_job_once()
    assert _last().summary() == MERGED
    compaction, _ = _status()
    assert compaction["status"] == "succeeded"


def test_a_next_run_an_interval_gone_by_is_called_overdue() -> None:
    last = LastCompaction(1000.0, 1600.0, {"merged_files": 0, "files_after": 4}, None, 3, 0)
    shown = compaction_view(last, 600.0, now=2300.0)
    assert (shown["ran"], shown["overdue"], shown["every"]) == ("21 min ago", True, "10 min")
    assert shown["summary"] == "nothing to merge; the log has 4 files"
    assert not compaction_view(last, 600.0, now=2000.0)["overdue"]  # may be running still


def _compact_by_hand(*args: str) -> Any:
    return CliRunner().invoke(build_cli(), ["features", "log", "compact", *args])


def test_a_compaction_by_hand_is_shown_apart_and_is_the_latest(service: ServiceHarness) -> None:
    planned = _compact_by_hand("--dry-run")
    assert planned.exit_code == 0, planned.output
    assert _status()[0]["by_hand"] is None  # a dry run changes nothing, its record neither
    done = _compact_by_hand("--view", "realtime_features")
    assert done.exit_code == 0, done.output
    card, stat = _card(service)
    assert re.fullmatch(r":\d s ago", stat), stat  # the job never ran: the latest is by hand
    assert 'data-status="never"' in card  # the scheduled job's own status is unchanged
    hand = re.search(r'<dd class="by-hand">(.*?)</dd>', card)
    assert hand, card
    assert re.search(
        rf'pill-ok">succeeded</span> \d s ago .*view realtime_features\).*: {re.escape(MERGED)}',
        hand.group(1),
    ), hand.group(1)
    compaction, text = _status()
    by_hand = compaction["by_hand"]
    assert (by_hand["status"], by_hand["view"], by_hand["error"]) == (
        "succeeded",
        "realtime_features",
        None,
    )
    assert (by_hand["result"]["merged_files"], by_hand["result"]["files_after"]) == (22, 3)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", by_hand["ran_at"])
    assert (compaction["status"], compaction["runs"]) == ("never", 0)
    assert re.search(
        rf"offline log compaction by hand \(view realtime_features\): succeeded \d s ago: "
        rf"{re.escape(MERGED)}",
        text,
    ), text


def test_a_failed_compaction_by_hand_is_recorded_with_its_error(
    service: ServiceHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_the_job_once()  # succeeded first: the later failure by hand is the latest

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise TransientError("the object store answered 503")

    monkeypatch.setattr(maintenance, "compact_log", unreachable)
    time.sleep(0.01)
    failed = _compact_by_hand()
    assert failed.exit_code != 0
    card, stat = _card(service)
    assert re.fullmatch(r"bad:\d s ago", stat), stat
    assert 'data-status="succeeded"' in card
    error = "TransientError: the object store answered 503"
    assert re.search(rf'pill-bad">failed</span>.*{re.escape(error)}', card), card
    compaction, text = _status()
    assert (compaction["by_hand"]["status"], compaction["by_hand"]["error"]) == ("failed", error)
    assert compaction["by_hand"]["result"] is None
    assert "offline log compaction by hand: failed" in text


def test_a_view_that_does_not_exist_is_refused_and_not_recorded(service: ServiceHarness) -> None:
    refused = _compact_by_hand("--view", "realtime_featurez")
    assert refused.exit_code == 2, refused.output
    assert _status()[0]["by_hand"] is None
    card, stat = _card(service)
    assert stat == ":never"
    assert "by-hand" not in card


def test_a_scheduled_run_after_one_by_hand_is_the_latest(service: ServiceHarness) -> None:
    ctx = features_context()
    with open_store(ctx, model=False, streams=False) as store:
        maintenance._record_by_hand(
            ctx, store, time.time() - 3600, None, None, "TransientError: an hour ago"
        )
    run_the_job_once()
    card, stat = _card(service)
    assert re.fullmatch(r":\d s ago", stat), stat  # the scheduled run, not the failure by hand
    assert re.search(r'<dd class="by-hand">.*pill-bad">failed</span> 1 h(our)? ago', card), card


def test_a_compaction_by_hand_stopped_with_ctrl_c_is_recorded_as_interrupted(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(maintenance, "compact_log", interrupted)
    stopped = _compact_by_hand()
    assert stopped.exit_code == 130, stopped.output
    by_hand = _status()[0]["by_hand"]
    assert (by_hand["status"], by_hand["error"]) == ("failed", maintenance.INTERRUPTED)
