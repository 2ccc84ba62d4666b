"""Background demo seeds: an app's ``demo`` marked ``demo_background`` runs once the service is
up, in a thread of its own, instead of holding up ``skybridge up --demo`` before it starts."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.kit import background
from skybridge.apps.kit.background import Background, seeds_running, serve_pipeline
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import AppSpec
from skybridge.apps.kit.settings import load_settings
from skybridge.backends import streams as streams_family
from skybridge.backends.streams import Message
from skybridge.commands.up import seed_demo
from skybridge.core.errors import TransientError
from skybridge.runtime.outputs import Event
from skybridge.runtime.pipeline import Pipeline

CALLS: list[str] = []
FAILURES = {"left": 0}
RELEASE = threading.Event()


def slow_seed(ctx: AppContext[Any]) -> None:
    CALLS.append(ctx.name)
    if FAILURES["left"]:
        FAILURES["left"] -= 1
        raise TransientError("the model server is not up yet")
    RELEASE.wait(10)
    (ctx.settings.data_dir / "seeded").write_text("yes")


SEEDED_LATER = AppSpec(
    name="later",
    title="Later",
    description="An app whose demo seed loads a model.",
    demo=slow_seed,
    demo_background=True,
)


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    CALLS.clear()
    FAILURES["left"] = 0
    RELEASE.clear()
    monkeypatch.setattr(background, "FIRST_PAUSE", 0.1)


def _wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_up_leaves_the_seed_to_the_background_which_runs_it_once(tmp_path: Path) -> None:
    settings = load_settings([SEEDED_LATER], data_dir=tmp_path)
    assert seed_demo(settings, [SEEDED_LATER]) == []  # nothing ran before the service
    assert CALLS == []
    assert Background([SEEDED_LATER], settings).parts == []  # not outside demo mode
    live = Background([SEEDED_LATER], settings, demo=True)
    assert [p.label for p in live.parts] == ["later.seed"]
    live.start()
    try:
        _wait_for(lambda: CALLS == ["later"])
        assert not (tmp_path / "seeded").exists()  # still loading: the service is already up
        RELEASE.set()
        _wait_for((tmp_path / "seeded").exists)
        time.sleep(0.3)
        assert CALLS == ["later"]  # once, not again and again
        assert live.status()[0]["state"] == "running"
    finally:
        live.stop(timeout=5)
    assert live.status()[0]["state"] == "stopped"


def test_a_stop_does_not_wait_for_a_seed_still_running(tmp_path: Path) -> None:
    live = Background([SEEDED_LATER], load_settings([SEEDED_LATER], data_dir=tmp_path), demo=True)
    live.start()
    _wait_for(lambda: CALLS == ["later"])
    started = time.monotonic()
    live.stop(timeout=5)
    assert time.monotonic() - started < 2  # the seed waits up to 10 s for RELEASE
    assert live.status()[0]["state"] == "stopped"
    # What `skybridge up` checks once the service has stopped, to end without finalizing
    # an interpreter whose seed thread may be in native code.
    assert seeds_running() == ["skybridge-later.demo-seed"]
    RELEASE.set()
    _wait_for(lambda: not seeds_running())


def test_a_failed_seed_is_reported_and_tried_again(tmp_path: Path) -> None:
    FAILURES["left"] = 1
    RELEASE.set()
    live = Background([SEEDED_LATER], load_settings([SEEDED_LATER], data_dir=tmp_path), demo=True)
    live.start()
    try:
        _wait_for((tmp_path / "seeded").exists)
        assert CALLS == ["later", "later"]
        part = live.status()[0]
        assert part["restarts"] == 1
        assert "model server is not up yet" in part["error"]
    finally:
        live.stop(timeout=5)


def test_serve_pipeline_runs_until_sigterm_then_closes_the_pipeline(tmp_path: Path) -> None:
    # What `skybridge features serve` and `skybridge recommend serve` run in the foreground.
    url = f"sqlite:///{tmp_path}/log.db"
    log = streams_family.connect(url, setting=None)
    log.create_topic("t", 1)
    log.produce("t", [Message(b"%d" % i) for i in range(5)])
    seen: list[int] = []
    closed: list[bool] = []

    def handle(event: Event) -> list[object]:
        seen.append(event.value)
        if len(seen) == 5:  # everything is handled: now the operator stops it
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return []

    pipeline = Pipeline("serve-test", source=url, topics=["t"], handler=handle)
    pipeline.close = lambda: closed.append(True)  # type: ignore[attr-defined]
    previous = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    serve_pipeline(pipeline)
    assert time.monotonic() - started < 30
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert closed == [True]
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is put back


def _nothing(event: Event) -> list[object]:
    return []


def test_a_pipeline_started_again_after_failures_leaves_no_thread_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each run's stop relay ends with its run: a part failing for hours (restarted every
    minute) does not pile up threads holding its failed pipelines."""
    monkeypatch.setattr(background, "RELAY_CHECK", 0.01)
    stop = threading.Event()

    class Failing(Pipeline):
        def run(self) -> None:
            raise TransientError("the broker is down")

    for _ in range(20):
        with pytest.raises(TransientError):
            background.run_pipeline(Failing("failing", "x", ["t"], handler=_nothing), stop)
    _wait_for(lambda: not [t for t in threading.enumerate() if t.name == "stop-failing"])
    # and a running pipeline still hears the stop
    stopped = threading.Event()

    class Running(Pipeline):
        def run(self) -> None:
            stopped.wait(10)

        def stop(self) -> None:
            stopped.set()

    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    background.run_pipeline(Running("running", "x", ["t"], handler=_nothing), stop)
    assert stopped.is_set()
    assert time.monotonic() - started < 5
