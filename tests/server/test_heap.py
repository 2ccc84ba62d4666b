"""What the service has imported stays out of the garbage collector's full passes, which held
the GIL (and /healthz) for 200-500 ms each in a service with its apps' libraries loaded."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import types
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import uvicorn

from skybridge.commands.up import serve
from skybridge.server.heap import ImportFreezer


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_a_full_collection_after_start_walks_only_what_came_since(unfrozen: None) -> None:
    kept = [(n, [n]) for n in range(100_000)]  # long-lived, as what modules define
    freezer = ImportFreezer(interval=60)
    try:
        freezer.start()
        assert len(gc.get_objects()) < len(kept)
    finally:
        freezer.stop()


def test_modules_imported_since_the_last_freeze_are_frozen_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    freezes: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(len(sys.modules)))
    freezer = ImportFreezer(interval=60)
    try:
        freezer.start()
        assert not freezer.check()
        late = types.ModuleType("skybridge_late_import")
        monkeypatch.setitem(sys.modules, "skybridge_late_import", late)
        assert freezer.check()
        assert not freezer.check()
    finally:
        freezer.stop()
    assert len(freezes) == 2


def test_the_freezer_keeps_checking_after_checks_that_found_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    freezes: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(len(sys.modules)))
    freezer = ImportFreezer(interval=0.02)
    try:
        freezer.start()
        time.sleep(0.2)  # several checks with nothing new imported
        late = types.ModuleType("skybridge_later_import")
        monkeypatch.setitem(sys.modules, "skybridge_later_import", late)
        deadline = time.monotonic() + 5
        while len(freezes) < 2:
            assert time.monotonic() < deadline, "a later import was never frozen"
            time.sleep(0.02)
    finally:
        freezer.stop()


def test_skybridge_up_freezes_before_it_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(ImportFreezer, "start", lambda self: events.append("frozen"))
    monkeypatch.setattr(ImportFreezer, "stop", lambda self: events.append("stopped"))

    async def startup(self: uvicorn.Server, sockets: Any = None) -> None:
        events.append("listening")
        self.started = True

    monkeypatch.setattr(uvicorn.Server, "startup", startup)

    def run(self: uvicorn.Server) -> None:
        # in a thread of its own, as an event loop another test left set here would refuse it
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self.startup()).result()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setattr(gc, "freeze", lambda: None)  # the one before the interpreter exits
    serve(object(), lambda: events.append("ready"))
    assert events == ["frozen", "listening", "ready", "stopped"]


def test_a_dead_cycle_of_the_oldest_generation_is_collected_not_frozen(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Node:
        pass

    freezer = ImportFreezer(interval=60)
    try:
        freezer.start()
        node = Node()
        node.me = node  # type: ignore[attr-defined]
        gc.collect()  # the cycle, still alive, reaches the oldest generation
        gone = weakref.ref(node)
        del node
        monkeypatch.setitem(sys.modules, "skybridge_late_import", types.ModuleType("late"))
        assert freezer.check()
        gc.unfreeze()
        gc.collect(0)  # what a full pass did not free would still be alive here
        assert gone() is None
    finally:
        freezer.stop()
