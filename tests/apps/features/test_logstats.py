"""The offline log's counters when two writers start them at once: the loser of the race must
not add its file on top of a listing that already held it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skybridge.apps.features.logstats import count_file, log_stats, stats_key
from skybridge.backends import kv as kv_backends
from skybridge.backends import objects as object_backends


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
