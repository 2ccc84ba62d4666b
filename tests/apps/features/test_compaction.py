"""Compaction of the offline log on every ``objects`` backend (local files, S3 on the moto
server, OCI Object Storage on the OCI emulator): every row kept once, the same training set,
crash-safe between writing the merged file and deleting the parts, exact counters, redelivery
after compaction, and two compactions at once."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from skybridge.apps.features.compaction import LEASE_PREFIX, compact_view
from skybridge.apps.features.logstats import pending_step, stats_key
from skybridge.apps.features.mergedfile import compacted_inputs, encode, read_files, unique_rows
from skybridge.apps.features.offline import OfflineLogSink, log_files, read_log
from skybridge.backends import kv as kv_backends
from skybridge.backends import objects as object_backends
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.objects import ObjectInfo, ObjectStore
from skybridge.core.errors import Conflict
from skybridge.runtime.leases import LeaseManager

from .logdata import (
    DAY_1,
    DAY_2,
    PREFIX,
    VIEW,
    assert_counters_exact,
    batch,
    physical_rows,
    snapshot,
    training,
    write_days,
)

BUCKET = "features-compaction"


@pytest.fixture(scope="module")
def oci_client(oci_emulator: Any) -> Any:
    return oci_emulator.object_storage_client(BUCKET)


def log_batches(
    objects: ObjectStore, kv: KeyValueStore, firsts: range, day: float
) -> OfflineLogSink:
    """A sink that wrote a batch of 10 events (offsets from each of ``firsts``) on ``day``."""
    sink = OfflineLogSink(objects, PREFIX, kv)
    for first in firsts:
        sink.write(batch(first, 10, day))
    return sink


def _objects(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    run = uuid.uuid4().hex[:8]
    if request.param == "file":
        return object_backends.connect(f"file://{tmp_path}/objects")
    if request.param == "s3":
        moto = request.getfixturevalue("moto_server")
        return object_backends.connect(
            f"s3://{BUCKET}/t-{run}?region=us-east-1&endpoint_url={moto.url}&create=1&page_size=7"
        )
    emulator = request.getfixturevalue("oci_emulator")
    client = request.getfixturevalue("oci_client")
    url = f"oci://{BUCKET}@{emulator.namespace}/t-{run}?page_size=7"
    return object_backends.connect(url, client=client)


BACKENDS = [
    "file",
    pytest.param("s3", marks=pytest.mark.moto),
    pytest.param("oci", marks=pytest.mark.oci),
]


@pytest.fixture(params=BACKENDS)
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    return _objects(request, tmp_path)


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[KeyValueStore]:
    with kv_backends.connect(f"sqlite:///{tmp_path}/kv.db") as store:
        yield store


def _compact(objects: ObjectStore, kv: KeyValueStore, **options: Any) -> Any:
    options.setdefault("min_age", 0.0)
    return compact_view(objects, kv, VIEW, PREFIX, **options)


def _days(objects: ObjectStore) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key in log_files(objects, VIEW, PREFIX):
        folder, _, name = key.rpartition("/")
        found.setdefault(folder.rpartition("=")[2], []).append(name)
    return found


def test_every_row_is_kept_once_and_training_reads_the_same(
    objects: ObjectStore, kv: KeyValueStore
) -> None:
    sink = OfflineLogSink(objects, PREFIX, kv)
    distinct = write_days(sink, time.time())
    before, trained = snapshot(objects), training(objects)
    assert len(before) == distinct
    assert len(log_files(objects, VIEW, PREFIX)) == 22
    assert physical_rows(objects) == distinct + 30  # a redelivery batched otherwise
    assert_counters_exact(kv, objects)

    done = _compact(objects, kv)

    days = _days(objects)
    assert [len(names) for names in days.values()] == [1, 1, 1], days
    assert all(name.startswith("compact-") for names in days.values() for name in names)
    assert snapshot(objects) == before
    assert training(objects) == trained
    assert physical_rows(objects) == distinct  # each (source, offset) once
    counted = assert_counters_exact(kv, objects)
    assert counted["rows"] == distinct
    assert (done.files_before, done.files_after, done.merged_files) == (22, 3, 22)
    assert (done.merged_rows, done.written_rows, done.duplicates) == (distinct + 30, distinct, 30)
    assert done.bytes_after == counted["bytes"]
    for key in log_files(objects, VIEW, PREFIX):
        table = pq.read_table(io.BytesIO(objects.get(key)))
        idents = list(zip(table["source"].to_pylist(), table["offset"].to_pylist(), strict=True))
        assert len(idents) == len(set(idents))
        assert compacted_inputs(objects, key)  # names its inputs
    again = _compact(objects, kv)
    assert (again.merged_files, again.written_files, again.files_after) == (0, 0, 3)
    assert pending_step(kv, VIEW) is None


def test_a_crash_between_writing_and_deleting_loses_and_double_counts_nothing(
    objects: ObjectStore, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = log_batches(objects, kv, range(0, 100, 10), DAY_1)
    before, trained = snapshot(objects), training(objects)
    counted_before = assert_counters_exact(kv, objects)
    real_delete_many = type(objects).delete_many

    def crash_after_three(self: ObjectStore, keys: Iterable[str]) -> None:
        real_delete_many(self, list(keys)[:3])
        raise SystemExit("killed")  # the process dies mid-way

    monkeypatch.setattr(type(objects), "delete_many", crash_after_three)
    with pytest.raises(SystemExit):
        _compact(objects, kv)
    monkeypatch.undo()

    assert len(log_files(objects, VIEW, PREFIX)) == 10 - 3 + 1  # merged file and parts left
    assert snapshot(objects) == before  # every row, once
    assert training(objects) == trained
    shown = kv_counters(kv)
    assert (shown["files"], shown["rows"], shown["bytes"]) == (
        counted_before["files"],
        counted_before["rows"],
        counted_before["bytes"],
    )  # the rows are stored twice now, and counted once
    assert pending_step(kv, VIEW) is not None
    kv.delete(LEASE_PREFIX + VIEW)  # a killed process leaves its lease to lapse
    sink.write(batch(100, 10, DAY_1))  # the pipeline goes on meanwhile
    assert pending_step(kv, VIEW) is not None  # counting its file kept the step's record
    before, trained = snapshot(objects), training(objects)

    done = _compact(objects, kv)

    assert done.settled == "finished"
    assert [len(names) for names in _days(objects).values()] == [1]
    assert snapshot(objects) == before
    assert training(objects) == trained
    assert assert_counters_exact(kv, objects)["rows"] == 110
    assert pending_step(kv, VIEW) is None


def test_a_crash_before_the_merged_file_is_written_is_dropped(
    objects: ObjectStore, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_batches(objects, kv, range(0, 60, 10), DAY_2)
    before = snapshot(objects)

    def dies(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed")

    monkeypatch.setattr(type(objects), "put", dies)
    with pytest.raises(SystemExit):
        _compact(objects, kv)
    monkeypatch.undo()
    assert pending_step(kv, VIEW) is not None
    kv.delete(LEASE_PREFIX + VIEW)  # a killed process leaves its lease to lapse

    done = _compact(objects, kv)

    assert done.settled == "dropped"
    assert (done.merged_files, done.files_after) == (6, 1)
    assert snapshot(objects) == before
    assert assert_counters_exact(kv, objects)["rows"] == 60


def test_a_merged_file_written_while_its_step_is_dropped_goes_with_the_step(
    objects: ObjectStore, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paused writer puts its merged file just after the next compaction looked for it."""
    log_batches(objects, kv, range(0, 30, 10), DAY_2)
    before = snapshot(objects)
    real_put, real_head = type(objects).put, type(objects).head
    held: dict[str, Any] = {}

    def paused(self: ObjectStore, key: str, data: Any, **options: Any) -> None:
        held.update(key=key, data=data, options=options)
        raise SystemExit("paused")

    monkeypatch.setattr(type(objects), "put", paused)
    with pytest.raises(SystemExit):
        _compact(objects, kv)
    monkeypatch.undo()
    kv.delete(LEASE_PREFIX + VIEW)  # its lease lapsed

    def head_then_writer_wakes(self: ObjectStore, key: str) -> Any:
        try:
            return real_head(self, key)
        finally:
            if key == held.get("key"):
                real_put(self, key, held.pop("data"), **held["options"])

    monkeypatch.setattr(type(objects), "head", head_then_writer_wakes)
    done = _compact(objects, kv)
    monkeypatch.undo()
    assert done.settled == "dropped"
    assert not objects.exists(held["key"])  # counted nowhere: gone
    assert snapshot(objects) == before
    assert assert_counters_exact(kv, objects)["rows"] == 30


def test_a_batch_delivered_again_after_compaction_is_read_and_counted_right(
    objects: ObjectStore, kv: KeyValueStore
) -> None:
    sink = OfflineLogSink(objects, PREFIX, kv)
    batches = [batch(first, 10, DAY_1) for first in range(0, 50, 10)]
    for effects in batches:
        sink.write(effects)
    sink.write(batches[1])  # before compaction: finds its file, writes nothing
    assert len(log_files(objects, VIEW, PREFIX)) == 5
    before, trained = snapshot(objects), training(objects)
    _compact(objects, kv)
    assert len(log_files(objects, VIEW, PREFIX)) == 1

    sink.write(batches[1])  # its file was merged away: stored again, counted as stored

    assert len(log_files(objects, VIEW, PREFIX)) == 2
    assert snapshot(objects) == before
    assert training(objects) == trained
    assert assert_counters_exact(kv, objects)["rows"] == 60
    done = _compact(objects, kv)  # the next compaction drops the copy
    assert (done.merged_files, done.files_after, done.duplicates) == (2, 1, 10)
    assert snapshot(objects) == before
    assert assert_counters_exact(kv, objects)["rows"] == 50


def test_today_is_merged_once_its_files_are_old_enough(
    objects: ObjectStore, kv: KeyValueStore
) -> None:
    sink = OfflineLogSink(objects, PREFIX, kv)
    now = time.time()
    for first in range(0, 40, 10):
        sink.write(batch(first, 10, now))
    young = _compact(objects, kv, min_age=3600.0)  # written just now: left alone
    assert (young.merged_files, young.files_after) == (0, 4)
    _compact(objects, kv)
    for first in range(40, 70, 10):
        sink.write(batch(first, 10, now))
    _compact(objects, kv)
    [today] = _days(objects).values()
    assert len(today) == 2  # today's merged files are not merged again while the day grows
    tomorrow = _compact(objects, kv, now=now + 86400)  # once the day is closed: one file
    assert (tomorrow.merged_files, tomorrow.files_after) == (2, 1)
    assert len(snapshot(objects)) == 70
    assert_counters_exact(kv, objects)


def test_a_closed_day_is_merged_into_files_bounded_by_size(
    objects: ObjectStore, kv: KeyValueStore
) -> None:
    sink = OfflineLogSink(objects, PREFIX, kv)
    for first in range(0, 2400, 200):
        sink.write(batch(first, 200, DAY_1))
    before = snapshot(objects)
    target = 3 * max(objects.head(key).size for key in log_files(objects, VIEW, PREFIX))
    done = _compact(objects, kv, target_bytes=target)
    assert 2 <= done.files_after < 12
    assert all(objects.head(key).size <= target for key in log_files(objects, VIEW, PREFIX))
    assert snapshot(objects) == before
    assert_counters_exact(kv, objects)


def test_a_view_another_compaction_holds_is_left_alone(
    objects: ObjectStore, kv: KeyValueStore
) -> None:
    log_batches(objects, kv, range(0, 30, 10), DAY_1)
    held = LeaseManager(kv, prefix=LEASE_PREFIX).acquire(VIEW, "other-worker", 60.0)
    assert held is not None
    done = _compact(objects, kv)
    assert done.busy
    assert (done.merged_files, done.files_after) == (0, 3)
    assert len(log_files(objects, VIEW, PREFIX)) == 3


def test_two_compactions_at_once_lose_no_row(objects: ObjectStore, kv: KeyValueStore) -> None:
    """The first one is paused past its lease while reading; the second one takes the view,
    merges everything and deletes the files the first was reading. The first one stops; no
    row is lost, and the next compaction leaves the counters exact."""
    log_batches(objects, kv, range(0, 80, 10), DAY_1)
    before, trained = snapshot(objects), training(objects)
    second: list[Any] = []

    class PausedPastItsLease:
        def planned(self, files: int) -> None:
            pass

        def merged(self, files: int) -> None:
            if not second:
                kv.delete(LEASE_PREFIX + VIEW)  # its lease lapsed meanwhile
                second.append(_compact(objects, kv))

    with pytest.raises(Conflict):
        _compact(objects, kv, tracker=PausedPastItsLease())
    assert second[0].merged_files == 8
    assert snapshot(objects) == before
    assert training(objects) == trained
    _compact(objects, kv)
    assert len(log_files(objects, VIEW, PREFIX)) == 1
    assert assert_counters_exact(kv, objects)["rows"] == 80


def test_a_compaction_that_lost_its_view_before_deleting_leaves_nothing_uncounted(
    objects: ObjectStore, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paused past its lease just before writing its merged file: the compaction that takes
    the view over drops the step (no file yet) and merges the parts itself; the first one then
    writes its file, finds the view lost and deletes that file again, counted nowhere."""
    log_batches(objects, kv, range(0, 50, 10), DAY_2)
    before = snapshot(objects)
    real_put = type(objects).put
    second: list[Any] = []
    paused = [False]

    def put_after_a_pause(self: ObjectStore, key: str, *args: Any, **kwargs: Any) -> None:
        if not paused[0]:
            paused[0] = True
            kv.delete(LEASE_PREFIX + VIEW)  # its lease lapsed meanwhile
            second.append(_compact(objects, kv))
        real_put(self, key, *args, **kwargs)

    monkeypatch.setattr(type(objects), "put", put_after_a_pause)
    with pytest.raises(Conflict):
        _compact(objects, kv)
    monkeypatch.undo()
    assert second[0].settled == "dropped"
    assert len(log_files(objects, VIEW, PREFIX)) == 1
    assert snapshot(objects) == before
    assert assert_counters_exact(kv, objects)["rows"] == 50


def test_a_compaction_that_lost_its_view_after_writing_keeps_its_file(
    objects: ObjectStore, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paused past its lease just after writing its merged file: the compaction that takes the
    view over finds the file, deletes the inputs and settles the step; the first one then finds
    the view lost and must keep its file, which holds every row now."""
    log_batches(objects, kv, range(0, 50, 10), DAY_2)
    before, trained = snapshot(objects), training(objects)
    real_put = type(objects).put
    second: list[Any] = []
    paused = [False]

    def put_then_pause(self: ObjectStore, key: str, *args: Any, **kwargs: Any) -> None:
        real_put(self, key, *args, **kwargs)
        if not paused[0]:
            paused[0] = True
            _lapse(kv)
            second.append(_compact(objects, kv))

    monkeypatch.setattr(type(objects), "put", put_then_pause)
    with pytest.raises(Conflict):
        _compact(objects, kv)
    monkeypatch.undo()

    assert second[0].settled == "finished"
    assert len(log_files(objects, VIEW, PREFIX)) == 1
    assert snapshot(objects) == before
    assert training(objects) == trained
    assert assert_counters_exact(kv, objects)["rows"] == 50
    assert pending_step(kv, VIEW) is None


def test_an_input_written_again_in_the_second_of_the_merge_is_kept_and_counted(
    objects: ObjectStore, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after deleting some inputs; a batch of one of them delivered again at once is
    stored again and counted. On a store that keeps whole seconds, it looks as old as the
    merged file: settling the step must keep it (it is not the file merged) and the next merge
    count it out, so the counters stay exact."""
    sink = log_batches(objects, kv, range(0, 100, 10), DAY_1)
    before = snapshot(objects)
    real_delete_many, real_head = type(objects).delete_many, type(objects).head

    def crash_after_three(self: ObjectStore, keys: Iterable[str]) -> None:
        real_delete_many(self, list(keys)[:3])
        raise SystemExit("killed")

    def same_second(self: ObjectStore, key: str) -> ObjectInfo:
        return replace(real_head(self, key), last_modified=datetime(2025, 3, 1, tzinfo=UTC))

    monkeypatch.setattr(type(objects), "delete_many", crash_after_three)
    with pytest.raises(SystemExit):
        _compact(objects, kv)
    monkeypatch.undo()
    monkeypatch.setattr(type(objects), "head", same_second)
    kv.delete(LEASE_PREFIX + VIEW)  # a killed process leaves its lease to lapse
    again = batch(0, 10, DAY_1 + 60)  # delivered again, ingested anew: another file
    assert len(log_files(objects, VIEW, PREFIX)) == 10 - 3 + 1
    sink.write(again)
    assert len(log_files(objects, VIEW, PREFIX)) == 10 - 3 + 1 + 1  # its part, stored again

    done = _compact(objects, kv)

    assert done.settled == "finished"
    assert assert_counters_exact(kv, objects)["rows"] == 100
    assert done.duplicates == 10  # the part written again was merged, its copy dropped
    assert len(log_files(objects, VIEW, PREFIX)) == 1
    assert len(snapshot(objects)) == len(before) == 100


def test_readers_see_every_row_while_a_compaction_deletes_what_they_listed(
    objects: ObjectStore, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction runs between a reader's listing and its reading of the files listed."""
    sink = log_batches(objects, kv, range(0, 50, 10), DAY_2)
    before, trained = snapshot(objects), training(objects)
    real_get = type(objects).get
    compacted: list[Any] = []

    def get_then_compact(self: ObjectStore, key: str) -> bytes:
        data = real_get(self, key)
        if not compacted:  # the reader read its first file
            compacted.append(None)
            compacted.append(_compact(objects, kv))
        return data

    monkeypatch.setattr(type(objects), "get", get_then_compact)
    assert snapshot(objects) == before
    assert compacted[1].merged_files == 5
    compacted.clear()
    assert training(objects) == trained
    monkeypatch.undo()

    for first in range(50, 80, 10):  # a merged file and three parts, merged while read
        sink.write(batch(first, 10, DAY_2))
    before = snapshot(objects)
    assert len(before) == 80
    compacted.clear()
    monkeypatch.setattr(type(objects), "get", get_then_compact)
    assert snapshot(objects) == before
    assert compacted[1].merged_files == 4


def test_readers_see_every_row_when_a_listing_misses_files_moved_during_it(
    objects: ObjectStore, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing in pages, in key order, with a compaction between two pages: the merged file
    is written behind it (``compact-`` sorts before ``part-``), the parts deleted ahead of it,
    so the listing has neither."""
    sink = log_batches(objects, kv, range(0, 30, 10), DAY_1)
    _compact(objects, kv)
    for first in range(30, 80, 10):
        sink.write(batch(first, 10, DAY_2))
    before = snapshot(objects)
    assert len(before) == 80
    real_list = type(objects).list
    boundary = f"{PREFIX}/{VIEW}/date=2025-03-02/part-"
    raced: list[str] = []

    def list_racing_a_compaction(
        self: ObjectStore, prefix: str = "", **options: Any
    ) -> Iterator[Any]:
        if raced or not prefix.endswith(f"{VIEW}/"):
            yield from real_list(self, prefix, **options)
            return
        raced.append(prefix)
        ahead = [e for e in real_list(self, prefix, **options) if e.key < boundary]
        _compact(objects, kv)
        behind = [e for e in real_list(self, prefix, **options) if e.key >= boundary]
        yield from ahead + behind

    monkeypatch.setattr(type(objects), "list", list_racing_a_compaction)
    assert snapshot(objects) == before
    assert raced


def test_readers_finish_while_the_pipeline_writes_a_part_during_every_listing(
    objects: ObjectStore, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = log_batches(objects, kv, range(0, 30, 10), DAY_2)
    before = {(r[2], r[3]) for r in snapshot(objects)}
    real_list = type(objects).list
    written = iter(range(30, 1000, 10))

    def list_while_writing(self: ObjectStore, prefix: str = "", **options: Any) -> Iterator[Any]:
        found = list(real_list(self, prefix, **options))
        if prefix.endswith(f"{VIEW}/"):
            sink.write(batch(next(written), 10, DAY_2))  # lands just after this listing
        yield from found

    monkeypatch.setattr(type(objects), "list", list_while_writing)
    rows = read_log(objects, VIEW, PREFIX)
    monkeypatch.undo()
    found = {(r.source, r.offset) for r in rows}
    assert before <= found  # every row there when the read began
    assert len(found) == len(rows)


def test_readers_finish_while_a_compaction_works_through_a_backlog(
    objects: ObjectStore, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each listing after the first sees one more compacted file, merged from files the
    reader had read: nothing new in it, so the reader does not keep going (25 > READ_ROUNDS)."""
    sink = OfflineLogSink(objects, PREFIX, kv)
    days = [DAY_1 - 86_400 * n for n in range(25)]
    for n, day in enumerate(days):
        sink.write(batch(2 * n, 1, day))
        sink.write(batch(2 * n + 1, 1, day))
    before = snapshot(objects)
    real_keys = objects.keys
    listings: list[str] = []

    def keys_while_compacting(prefix: str = "") -> Iterator[str]:
        if listings and days:  # one more day merged since the last listing
            folder = datetime.fromtimestamp(days.pop(0), UTC).strftime("date=%Y-%m-%d/")
            parts = sorted(real_keys(f"{prefix}{folder}"))
            table, _, _, digests = read_files(objects, parts, lambda _: None)
            names = [k.rpartition("/")[2] for k in parts]
            body = encode(unique_rows(table), names, digests)
            objects.put(f"{prefix}{folder}compact-20260101T000000-{len(days)}.parquet", body)
            objects.delete_many(parts)
        listings.append(prefix)
        return real_keys(prefix)

    monkeypatch.setattr(objects, "keys", keys_while_compacting)
    assert snapshot(objects) == before
    assert len(listings) == 2


def test_dry_run_changes_nothing(objects: ObjectStore, kv: KeyValueStore) -> None:
    sink = OfflineLogSink(objects, PREFIX, kv)
    distinct = write_days(sink, time.time())
    keys = log_files(objects, VIEW, PREFIX)
    planned = _compact(objects, kv, dry_run=True)
    assert (planned.files_before, planned.files_after, planned.merged_files) == (22, 3, 22)
    assert planned.merged_rows is None  # rows are known by reading, which a dry run does not
    assert log_files(objects, VIEW, PREFIX) == keys
    assert len(snapshot(objects)) == distinct


def _lapse(kv: KeyValueStore) -> None:
    """The view's lease runs out (its holder is paused past it): the record stays, expired."""
    raw = kv.get(LEASE_PREFIX + VIEW)
    assert raw is not None
    kv.put(LEASE_PREFIX + VIEW, json.dumps(json.loads(raw) | {"expires_at": 0.0}).encode())


def kv_counters(kv: KeyValueStore) -> dict[str, Any]:
    raw = kv.get(stats_key(VIEW))
    assert raw is not None
    doc: dict[str, Any] = json.loads(raw)
    return doc
