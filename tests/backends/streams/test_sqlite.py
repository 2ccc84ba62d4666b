"""The embedded SQLite log: contract, retention, concurrent producers, multi-process groups."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from skybridge.backends.streams import Message, Retention, TopicPartition, connect
from skybridge.backends.streams.sqlite import SqliteStream
from skybridge.core.errors import ConfigError, Conflict, TransientError, ValidationError
from skybridge.testing.contracts.streams import StreamsContract, drain, unique


@pytest.fixture
def log(tmp_path: Path) -> SqliteStream:
    backend = connect(f"sqlite:///{tmp_path}/log.db?session_timeout=1.5&heartbeat_interval=0.1")
    assert isinstance(backend, SqliteStream)
    return backend


@pytest.fixture
def lapsing(tmp_path: Path) -> SqliteStream:
    """A log whose members stop their background heartbeat 0.2 s after their last poll: a
    member that does not poll for 2 s (``LAPSE``) has let its leases expire."""
    backend = connect(
        f"sqlite:///{tmp_path}/log.db?session_timeout=1.5&heartbeat_interval=0.1"
        "&max_poll_interval=0.2"
    )
    assert isinstance(backend, SqliteStream)
    return backend


#: Long enough without a poll for a ``lapsing`` member's leases to expire.
LAPSE = 2.0


class TestSqlite(StreamsContract):
    join_timeout = 5.0

    @pytest.fixture
    def streams(self, log: SqliteStream) -> SqliteStream:
        return log


def test_memory_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="file path"):
        connect("sqlite://")


def test_retention_by_count_moves_the_start_offset(log: SqliteStream) -> None:
    log.create_topic("capped", 1, Retention(max_records=5))
    log.produce("capped", [b"%d" % i for i in range(12)])
    assert log.start_offsets("capped") == {0: 7}
    with log.consumer("g", ["capped"]) as consumer:
        assert [r.value for r in drain(consumer, 5, 5)] == [b"%d" % i for i in range(7, 12)]
    assert log.lag("g", "capped")[0].lag == 5


def test_retention_by_age_drops_old_records(log: SqliteStream) -> None:
    log.create_topic("aged", 2, Retention(max_age=60))
    old = time.time() - 3600
    log.produce("aged", [Message(b"old", partition=p, timestamp=old) for p in (0, 1)])
    log.produce("aged", [Message(b"new", partition=0)])
    log.enforce_retention("aged")
    assert log.start_offsets("aged") == {0: 1, 1: 1}
    assert log.total_lag("nobody", "aged") == 1


def test_unsupported_retention_is_refused(log: SqliteStream) -> None:
    with pytest.raises(ValidationError, match="max_bytes"):
        log.create_topic("t", 1, Retention(max_bytes=10))


def test_explicit_partition_out_of_range(log: SqliteStream) -> None:
    log.create_topic("t", 2)
    with pytest.raises(ValidationError):
        log.produce("t", [Message(b"x", partition=2)])


def test_start_latest_skips_existing_records(log: SqliteStream) -> None:
    log.create_topic("t", 1)
    log.produce("t", [b"before"])
    with log.consumer("g", ["t"], start="latest") as consumer:
        assert consumer.poll(10, 0.2) == []
        log.produce("t", [b"after"])
        assert [r.value for r in consumer.poll(10, 1)] == [b"after"]


class FailingReads:
    """A consumer's connection whose next read of one partition's records fails (locked)."""

    def __init__(self, conn: sqlite3.Connection, partition: int) -> None:
        self.conn = conn
        self.partition: int | None = partition

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        if sql.startswith("SELECT off,") and params[1] == self.partition:
            self.partition = None
            raise sqlite3.OperationalError("database is locked")
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def test_a_failed_read_keeps_the_records_read_before_it(
    log: SqliteStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records of partition 0 come back although reading partition 1 failed after them;
    the next poll raises the error, and commits cover only what was returned."""
    log.create_topic("t", 2)
    log.produce("t", [Message(b"%d-%d" % (p, i), partition=p) for p in (0, 1) for i in range(3)])
    with log.consumer("g", ["t"]) as consumer:
        assert consumer.assignment() == {TopicPartition("t", 0), TopicPartition("t", 1)}
        monkeypatch.setattr(consumer, "_conn", FailingReads(consumer._conn, partition=1))
        first = consumer.poll(500, 0)
        assert [r.value for r in first] == [b"0-0", b"0-1", b"0-2"]
        consumer.commit()
        assert log.committed("g", "t") == {0: 3, 1: None}
        with pytest.raises(TransientError, match="locked"):
            consumer.poll(500, 0)
        assert [r.value for r in drain(consumer, 3, 5)] == [b"1-0", b"1-1", b"1-2"]
        consumer.commit()
    assert log.committed("g", "t") == {0: 3, 1: 3}


def test_expired_member_loses_commit_rights(lapsing: SqliteStream) -> None:
    lapsing.create_topic("t", 1)
    lapsing.produce("t", [b"a"])
    lazy = lapsing.consumer("g", ["t"])
    assert drain(lazy, 1, 2)
    time.sleep(LAPSE)  # no poll: the lease expires
    with lapsing.consumer("g", ["t"]) as taker:
        assert [r.value for r in drain(taker, 1, 3)] == [b"a"]
        with pytest.raises(Exception, match="no longer owns"):
            lazy.commit()
    lazy.close()


def test_member_alone_commits_after_its_lease_expired(lapsing: SqliteStream) -> None:
    lapsing.create_topic("t", 1)
    lapsing.produce("t", [b"a", b"b"])
    busy = lapsing.consumer("g", ["t"])
    try:
        assert len(drain(busy, 2, 2)) == 2
        time.sleep(LAPSE)  # a slow batch: no poll, the lease expires, but nobody takes it
        busy.commit()
        assert lapsing.committed("g", "t") == {0: 2}
        time.sleep(1.0)  # the commit renewed the lease: still held 1 s later
        with lapsing.consumer("g", ["t"]) as newcomer:
            assert newcomer.poll(10, 0.3) == []
            assert newcomer.assignment() == set()
        assert busy.assignment() == {TopicPartition("t", 0)}
    finally:
        busy.close()


def test_refused_commit_rewinds_to_the_committed_offset(lapsing: SqliteStream) -> None:
    lapsing.create_topic("t", 1)
    lapsing.produce("t", [b"a", b"b", b"c"])
    lazy = lapsing.consumer("g", ["t"])
    try:
        assert len(drain(lazy, 3, 2)) == 3
        time.sleep(LAPSE)  # the lease expires
        with lapsing.consumer("g", ["t"]) as taker:
            got = drain(taker, 3, 3)
            taker.commit_records(got[:1])  # then leaves with b, c uncommitted
        with pytest.raises(Conflict, match="no longer owns"):
            lazy.commit()
        assert [r.value for r in drain(lazy, 2, 3)] == [b"b", b"c"]  # redelivered
        lazy.commit()
        assert lapsing.total_lag("g", "t") == 0
    finally:
        lazy.close()


def test_partition_retaken_after_another_member_held_it_is_read_again(
    lapsing: SqliteStream,
) -> None:
    lapsing.create_topic("t", 1)
    lapsing.produce("t", [b"a", b"b", b"c"])
    assigned: list[set[TopicPartition]] = []
    revoked: list[set[TopicPartition]] = []
    lazy = lapsing.consumer("g", ["t"], on_assign=assigned.append, on_revoke=revoked.append)
    try:
        assert len(drain(lazy, 3, 2)) == 3
        time.sleep(LAPSE)
        with lapsing.consumer("g", ["t"]) as taker:
            taker.commit_records(drain(taker, 3, 3)[:2])
        tp = TopicPartition("t", 0)
        assert [r.value for r in drain(lazy, 1, 3)] == [b"c"]  # not kept at offset 3
        assert revoked == [{tp}]
        assert assigned == [{tp}, {tp}]
    finally:
        lazy.close()


def test_commit_refused_while_another_member_holds_the_partition(lapsing: SqliteStream) -> None:
    lapsing.create_topic("t", 1)
    lapsing.produce("t", [b"a"])
    lazy = lapsing.consumer("g", ["t"])
    try:
        assert drain(lazy, 1, 2)
        time.sleep(LAPSE)
        with lapsing.consumer("g", ["t"]) as taker:
            assert taker.wait_for_assignment(3)
            with pytest.raises(Conflict):
                lazy.commit()
            assert lazy.poll(10, 0.3) == []
            assert lazy.assignment() == set()
            assert lazy.position(TopicPartition("t", 0)) is None
            assert [r.value for r in drain(taker, 1, 3)] == [b"a"]
    finally:
        lazy.close()


def test_a_busy_member_keeps_its_partitions_through_its_background_heartbeat(
    log: SqliteStream,
) -> None:
    """Kafka's split of the two timeouts: a batch longer than ``session_timeout`` keeps its
    partitions (up to ``max_poll_interval``); a newcomer gets its share once the busy member
    polls again and gives it up."""
    log.create_topic("t", 2)
    log.produce("t", [Message(b"x", partition=p) for p in (0, 1)])
    busy = log.consumer("g", ["t"])
    try:
        assert len(drain(busy, 2, 3)) == 2
        with log.consumer("g", ["t"]) as newcomer:
            deadline = time.monotonic() + 2.5  # well past the 1.5 s session timeout
            while time.monotonic() < deadline:
                assert newcomer.poll(10, 0.2) == []
                assert newcomer.assignment() == set()
            busy.commit()  # not refused: nothing moved
            assert log.committed("g", "t") == {0: 1, 1: 1}
            assert busy.keepalive.renewals > 0
            busy.poll(10, 0.2)  # the busy member rebalances and gives up one partition
            assert newcomer.wait_for_assignment(3)
            assert len(newcomer.assignment()) == 1
            assert len(busy.assignment()) == 1
    finally:
        busy.close()


def test_a_closed_member_stays_gone(log: SqliteStream) -> None:
    log.create_topic("t", 1)
    member = log.consumer("g", ["t"])
    member_id = member.member_id
    member.close()
    assert not member.keepalive._thread.is_alive()
    time.sleep(0.3)  # three heartbeat intervals: nothing renews the member it was
    rows = sqlite3.connect(log.path).execute(
        "SELECT count(*) FROM members WHERE member = ?", (member_id,)
    )
    assert rows.fetchone() == (0,)


@pytest.mark.parametrize(
    "option", ["max_poll_interval=0", "session_timeout=-1", "max_poll_interval=soon"]
)
def test_bad_group_timing_options_are_refused(tmp_path: Path, option: str) -> None:
    with pytest.raises(ConfigError, match=option.split("=")[0]):
        connect(f"sqlite:///{tmp_path}/log.db?{option}")


def _produce_in_process(path: str, worker: int, count: int) -> None:
    backend = connect(f"sqlite:///{path}")
    for i in range(0, count, 50):
        backend.produce("shared", [Message(b"%d-%d" % (worker, i + j)) for j in range(50)])
    backend.close()


def test_concurrent_producer_processes_keep_offsets_dense(tmp_path: Path) -> None:
    path = str(tmp_path / "log.db")
    connect(f"sqlite:///{path}").create_topic("shared", 2)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_produce_in_process, args=(path, w, 500)) for w in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    backend = connect(f"sqlite:///{path}")
    ends = backend.end_offsets("shared")
    assert sum(ends.values()) == 1500
    with backend.consumer("g", ["shared"]) as consumer:
        got = drain(consumer, 1500, 10)
    assert len({r.value for r in got}) == 1500
    for part in (0, 1):
        assert [r.offset for r in got if r.partition == part] == list(range(ends[part]))


def _member_process(path: str, out: str) -> None:
    """Consume the group's share forever, writing owned partitions and values seen to ``out``."""
    backend = connect(f"sqlite:///{path}?session_timeout=1.5&heartbeat_interval=0.1")
    consumer = backend.consumer("workers", ["jobs"])
    with open(out, "a") as file:
        while True:
            records = consumer.poll(100, 0.1)
            owned = ",".join(str(tp.partition) for tp in sorted(consumer.assignment()))
            file.write(f"owned {owned}\n")
            for record in records:
                file.write(f"value {record.value.decode()}\n")
            file.flush()
            consumer.commit_records(records)


def _read(out: Path) -> tuple[set[int], list[str]]:
    lines = out.read_text().splitlines() if out.exists() else []
    owned_lines = [line for line in lines if line.startswith("owned")]
    last = owned_lines[-1].split(" ", 1)[1] if owned_lines else ""
    return {int(p) for p in last.split(",") if p}, [ln[6:] for ln in lines if ln[:5] == "value"]


def _wait(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.mark.slow
def test_two_processes_share_partitions_and_take_over_after_kill(tmp_path: Path) -> None:
    path = str(tmp_path / "log.db")
    connect(f"sqlite:///{path}").create_topic("jobs", 4)
    outs = [tmp_path / "a.txt", tmp_path / "b.txt"]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_member_process, args=(path, str(o)), daemon=True) for o in outs]
    for proc in procs:
        proc.start()
    try:
        _wait(lambda: all(len(_read(o)[0]) == 2 for o in outs), 20)
        a, b = (_read(o)[0] for o in outs)
        assert a.isdisjoint(b)
        assert a | b == {0, 1, 2, 3}
        backend = connect(f"sqlite:///{path}")
        backend.produce("jobs", [Message(b"first-%d" % i, key=b"%d" % i) for i in range(100)])
        _wait(lambda: len(_read(outs[0])[1]) + len(_read(outs[1])[1]) >= 100, 10)
        assert sorted(_read(outs[0])[1] + _read(outs[1])[1]) == sorted(
            f"first-{i}" for i in range(100)
        )
        assert procs[1].pid is not None
        os.kill(procs[1].pid, signal.SIGKILL)
        procs[1].join(5)
        backend.produce("jobs", [Message(b"second-%d" % i, key=b"%d" % i) for i in range(100)])
        _wait(lambda: _read(outs[0])[0] == {0, 1, 2, 3}, 10)
        _wait(lambda: sum(v.startswith("second") for v in _read(outs[0])[1]) == 100, 10)
        assert backend.total_lag("workers", "jobs") == 0
    finally:
        for proc in procs:
            proc.kill()
            proc.join(5)


def test_embedded_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A quick measurement (the benchmark comes later): produce then consume 50k records."""
    backend = connect(f"sqlite:///{tmp_path}/rate.db")
    backend.create_topic("rate", 4)
    total = 50_000
    messages = [
        Message(b'{"user": %d, "metric": 1.5}' % i, key=b"u%d" % (i % 997)) for i in range(total)
    ]
    started = time.perf_counter()
    for i in range(0, total, 1000):
        backend.produce("rate", messages[i : i + 1000])
    group = unique("g")
    with backend.consumer(group, ["rate"]) as consumer:
        seen = 0
        while seen < total:
            batch = consumer.poll(2000, 1)
            assert batch
            seen += len(batch)
            consumer.commit_records(batch)
    rate = total / (time.perf_counter() - started)
    with capsys.disabled():
        print(f"\nsqlite produce+consume: {rate:,.0f} events/s")
    assert rate > 10_000
    assert TopicPartition("rate", 0) not in consumer.assignment()
