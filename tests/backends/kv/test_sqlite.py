"""The ``sqlite://`` key-value store: the contract, URL paths, and CAS across processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from skybridge.backends.kv import KeyValueStore, connect, registry
from skybridge.backends.kv.sqlite import SQLiteStore
from skybridge.core.errors import ConfigError, Conflict, TransientError, ValidationError
from skybridge.core.observability import METRICS
from skybridge.testing.contracts.kv import KVContract, cas_claim, cas_increment


class TestSQLite(KVContract):
    hypothesis_examples = 100

    @pytest.fixture
    def make_kv(self, tmp_path: Path) -> Any:
        url = f"sqlite:///{tmp_path}/kv.db"
        return lambda namespace, **options: connect(url, namespace=namespace, **options)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/sub/kv.db", "data/sub/kv.db"),
        ("sqlite:///.skybridge/kv.db", ".skybridge/kv.db"),
        ("sqlite:////ABS/kv.db", "/ABS/kv.db"),
        ("sqlite://", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_url_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    url = url.replace("/ABS", str(tmp_path / "abs"))
    expected = expected.replace("/ABS", str(tmp_path / "abs"))
    with connect(url) as kv:
        assert isinstance(kv, SQLiteStore)
        assert kv.path == expected
        kv.put("k", b"v")
    if expected != ":memory:":
        assert (tmp_path / expected).is_file(), "the folder and file are created"
        with connect(url) as again:
            assert again.get("k") == b"v"


@pytest.mark.parametrize("url", ["sqlite://relative.db", "sqlite:///"])
def test_ambiguous_paths_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="three slashes") as info:
        connect(url)
    assert info.value.setting == "backends.kv"


def test_memory_stores_are_private() -> None:
    with connect("sqlite://") as one, connect("sqlite://") as two:
        one.put("k", b"v")
        assert two.get("k") is None
        assert one.get("k") == b"v"


def test_file_database_uses_wal(tmp_path: Path) -> None:
    with connect(f"sqlite:///{tmp_path}/kv.db") as kv:
        kv.put("k", b"v")
        probe = sqlite3.connect(tmp_path / "kv.db")
        mode = probe.execute("PRAGMA journal_mode").fetchone()
        probe.close()
    assert mode == ("wal",)


def test_url_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kv.db?namespace=feat.v1&page_size=5&max_value_size=10"
    with connect(url) as kv:
        assert (kv.namespace, kv.page_size, kv.max_value_size) == ("feat.v1", 5, 10)
        kv.put("k", b"0123456789")
        with pytest.raises(ValidationError, match="at most 10"):
            kv.put("k", b"0123456789x")
    with pytest.raises(ConfigError, match="page_size"):
        connect(f"sqlite:///{tmp_path}/kv.db?page_size=many")
    with pytest.raises(ConfigError, match="page_size"):
        connect(f"sqlite:///{tmp_path}/kv.db?page_size=0")
    with pytest.raises(ConfigError, match="max_value_size 0 is out of range"):
        connect(f"sqlite:///{tmp_path}/kv.db?max_value_size=0")


def test_busy_database_is_a_transient_error(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    with connect(f"sqlite:///{path}", timeout=0.05) as kv:
        kv.put("k", b"v")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(TransientError, match="busy"):
                kv.put("k", b"w")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert kv.put("k", b"w") == 2


def test_purge_expired_removes_rows(tmp_path: Path) -> None:
    from skybridge.core.clock import ManualClock

    clock = ManualClock()
    with connect(f"sqlite:///{tmp_path}/kv.db", clock=clock) as kv:
        kv.put_many({"a": b"", "b": b""}, ttl=1)
        kv.put("c", b"")
        clock.advance(2)
        assert kv.purge_expired() == 2
        assert kv.purge_expired() == 0
        assert list(kv.keys()) == ["c"]


def test_cas_is_atomic_across_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    with connect(url, namespace="procs"):
        pass  # create the schema once, before the workers race
    processes, increments = 3, 15
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=spawn) as pool:
        claims = [
            pool.submit(cas_claim, url, "procs", "leader", str(i).encode())
            for i in range(processes)
        ]
        counts = [
            pool.submit(cas_increment, url, "procs", "counter", increments)
            for _ in range(processes)
        ]
        winners = sum(f.result() for f in claims)
        conflicts = sum(f.result() for f in counts)
    assert winners == 1
    with connect(url, namespace="procs") as kv:
        counter = kv.get_item("counter")
        assert counter is not None
        assert (int(counter.value), counter.version) == (processes * increments,) * 2
        assert kv.get_item("leader").version == 1  # type: ignore[union-attr]
    assert conflicts >= 0


def test_metrics_count_calls_by_outcome() -> None:
    def calls(operation: str, outcome: str) -> float:
        labels = {"family": "kv", "scheme": "sqlite", "operation": operation, "outcome": outcome}
        return METRICS.get_sample_value("skybridge_backend_calls_total", labels) or 0.0

    before_ok, before_conflict = (
        calls("compare_and_set", "ok"),
        calls("compare_and_set", "Conflict"),
    )
    with connect("sqlite://") as kv:
        kv.compare_and_set("k", b"v", 0)
        with pytest.raises(Conflict):
            kv.compare_and_set("k", b"v", 0)
    assert calls("compare_and_set", "ok") == before_ok + 1
    assert calls("compare_and_set", "Conflict") == before_conflict + 1


def test_registry_knows_every_builtin_scheme() -> None:
    assert {"sqlite", "redis", "rediss", "dynamodb"} <= set(registry.schemes())
    assert registry.resolve("sqlite") is SQLiteStore
    assert issubclass(registry.resolve("sqlite"), KeyValueStore)
    with pytest.raises(ConfigError, match="no kv backend"):
        connect("nosuch://x")


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot use kv backend"):
        connect("sqlite://", colour="blue")


class _KeyByKeySQLite(SQLiteStore):
    """The base class's derived ``write_batch`` (no transaction), on sqlite."""

    capabilities = SQLiteStore.capabilities - {"atomic_batch"}
    _write_batch = KeyValueStore._write_batch


class TestDerivedWriteBatch(KVContract):
    hypothesis_examples = 10

    @pytest.fixture
    def make_kv(self, tmp_path: Path) -> Any:
        path = str(tmp_path / "kv.db")
        return lambda namespace, **options: _KeyByKeySQLite(path, namespace=namespace, **options)

    def test_a_stale_guard_seen_up_front_writes_nothing(self, kv: KeyValueStore) -> None:
        from skybridge.backends.kv import BatchWrite

        kv.put("a", b"1")
        with pytest.raises(Conflict):
            kv.write_batch([BatchWrite("x", b"1", expected=0), BatchWrite("a", b"2", expected=5)])
        assert kv.get_many(["x", "a"]) == {"a": b"1"}


def test_a_forked_child_whose_first_open_fails_opens_again_and_never_uses_the_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(str(tmp_path / "kv.db"))
    store.put("a", b"1")
    parents = store._conn
    monkeypatch.setattr(store, "_pid", -1)  # what a forked child sees
    real_open = store._open
    opens: list[int] = []

    def open_failing_once() -> sqlite3.Connection:
        opens.append(1)
        if len(opens) == 1:
            raise ConfigError("cannot open sqlite kv database: disk I/O error")
        return real_open()

    monkeypatch.setattr(store, "_open", open_failing_once)
    with pytest.raises(ConfigError):
        store.get("a")
    assert store.get("a") == b"1"
    assert len(opens) == 2
    assert store._conn is not parents
    parents.close()
    store.close()
