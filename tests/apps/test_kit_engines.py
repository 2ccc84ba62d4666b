"""``EngineCache``: one engine per process and configuration, keyed by everything that decides
what the engine connects to."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.engines import EngineCache
from skybridge.apps.kit.manifest import AppSpec
from skybridge.apps.kit.settings import load_settings

APP = AppSpec(name="cached", title="Cached", description="An app with a shared engine.")


def context(data_dir: Path, **backends: str) -> AppContext[Any]:
    settings = load_settings([APP], data_dir=data_dir, backends=backends)
    return AppContext.create(APP, settings)


def test_one_configuration_builds_one_engine(tmp_path: Path) -> None:
    built: list[AppContext[Any]] = []
    cache: EngineCache[object] = EngineCache(lambda ctx: built.append(ctx) or object())
    first = cache.get(context(tmp_path, kv="sqlite:///kv.db"))
    assert cache.get(context(tmp_path, kv="sqlite:///kv.db")) is first
    assert len(built) == 1


@pytest.mark.parametrize(
    "change",
    ["backend URL", "data directory", "working directory"],
)
def test_a_different_configuration_gets_its_own_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    cache: EngineCache[object] = EngineCache(lambda ctx: object())
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = cache.get(context(tmp_path, kv="sqlite:///kv.db"))
    if change == "backend URL":
        other = context(tmp_path, kv="sqlite:///other.db")
    elif change == "data directory":
        other = context(tmp_path / "b", kv="sqlite:///kv.db")
    else:  # the same relative URL names another file from another directory
        monkeypatch.chdir(tmp_path / "b")
        other = context(tmp_path, kv="sqlite:///kv.db")
    assert cache.get(other) is not first


def test_threads_asking_at_once_share_one_engine(tmp_path: Path) -> None:
    built: list[int] = []
    barrier = threading.Barrier(8, timeout=10)
    ctx = context(tmp_path, kv="sqlite:///kv.db")

    def build(_: AppContext[Any]) -> object:
        built.append(1)
        return object()

    cache: EngineCache[object] = EngineCache(build)
    found: list[object] = []

    def ask() -> None:
        barrier.wait()
        found.append(cache.get(ctx))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(found) == 8
    assert len({id(f) for f in found}) == 1
    assert built == [1]
