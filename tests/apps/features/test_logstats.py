"""The offline log's counters when two writers start them at once (the loser of the race must
not add its file on top of a listing that already held it), and when counting a file fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.features.logstats import (
    DROPPED_KEPT,
    begin_step,
    count_file,
    drop_step,
    log_stats,
    pending_step,
    stats_key,
    was_dropped,
)
from skybridge.apps.features.offline import OfflineLogSink
from skybridge.backends import kv as kv_backends
from skybridge.backends import objects as object_backends
from skybridge.core.errors import TransientError

from .logdata import DAY_1, PREFIX, VIEW, batch


class Interleaved:
    """A kv whose first ``get_item`` runs ``meanwhile`` right after it read (another writer)."""

    def __init__(self, kv: Any, meanwhile: Any) -> None:
        self.kv, self.meanwhile = kv, meanwhile

    def get_item(self, key: str) -> Any:
        item = self.kv.get_item(key)
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return item

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)


def test_two_first_writers_count_each_file_once(tmp_path: Path) -> None:
    kv = kv_backends.connect(f"sqlite:///{tmp_path}/kv.db")
    objects = object_backends.connect(f"file://{tmp_path}/objects")
    prefix, view = "features/log", "v"
    objects.put(f"{prefix}/{view}/date=2026-01-01/part-b.parquet", b"b" * 10)  # writer B

    def writer_a() -> None:
        objects.put(f"{prefix}/{view}/date=2026-01-01/part-a.parquet", b"a" * 10)
        count_file(kv, objects, prefix, view, 1, 10)

    count_file(Interleaved(kv, writer_a), objects, prefix, view, 1, 10)  # writer B counts
    counted = json.loads(kv.get(stats_key(view)))
    assert log_stats(objects, view, prefix)["files"] == 2
    assert counted["files"] == 2, counted


def test_dropped_steps_are_remembered_a_while(tmp_path: Path) -> None:
    kv = kv_backends.connect(f"sqlite:///{tmp_path}/kv.db")
    objects = object_backends.connect(f"file://{tmp_path}/objects")
    keys = [f"features/log/v/date=2026-01-01/compact-{i}.parquet" for i in range(DROPPED_KEPT + 5)]
    for key in keys:
        begin_step(
            kv, objects, "v", "features/log", {"key": key, "files": -1, "rows": 0, "bytes": 0}
        )
        assert not was_dropped(kv, "v", key)  # pending
        assert drop_step(kv, "v", key)
        count_file(kv, objects, "features/log", "v", 1, 10)  # the writer keeps the record
    assert pending_step(kv, "v") is None
    assert [was_dropped(kv, "v", key) for key in keys] == [False] * 5 + [True] * DROPPED_KEPT
    doc = json.loads(kv.get(stats_key("v")) or b"{}")
    assert (doc["files"], doc["rows"]) == (DROPPED_KEPT + 5,) * 2  # no dropped step applied


class FailingWrite:
    """A kv whose next ``compare_and_set`` fails once ``fail`` is set (the store went away)."""

    def __init__(self, kv: Any) -> None:
        self.kv, self.fail = kv, False

    def compare_and_set(self, *args: Any, **kwargs: Any) -> Any:
        if self.fail:
            self.fail = False
            raise TransientError("kv: connection reset")
        return self.kv.compare_and_set(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)


def test_a_file_whose_count_failed_is_counted_once_by_its_batch_delivered_again(
    tmp_path: Path,
) -> None:
    kv = kv_backends.connect(f"sqlite:///{tmp_path}/kv.db")
    objects = object_backends.connect(f"file://{tmp_path}/objects")
    flaky = FailingWrite(kv)
    sink = OfflineLogSink(objects, PREFIX, flaky)  # type: ignore[arg-type]
    sink.write(batch(0, 20, DAY_1))
    flaky.fail = True
    with pytest.raises(TransientError):
        sink.write(batch(20, 20, DAY_1))  # its file is written, not counted
    sink.write(batch(20, 20, DAY_1))  # delivered again: finds its file and counts it
    sink.write(batch(20, 20, DAY_1))  # and again: counted already
    sink.write(batch(40, 20, DAY_1))
    sink.write(batch(0, 20, DAY_1))  # an older batch again: counted already
    counted = json.loads(kv.get(stats_key(VIEW)))
    listed = log_stats(objects, VIEW, PREFIX)
    assert listed["files"] == 3
    assert (counted["files"], counted["rows"], counted["bytes"]) == (3, 60, listed["bytes"])
