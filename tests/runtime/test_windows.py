"""Window behaviours: late policies, idle close, watermarks across partitions, durable state."""

from __future__ import annotations

import math

import pytest

from skybridge.core.clock import ManualClock
from skybridge.core.errors import ConfigError
from skybridge.runtime import (
    Aggregator,
    KVWindowStore,
    LatePolicy,
    MemoryWindowStore,
    WatermarkTracker,
    Window,
    WindowedAggregation,
    collecting,
    counter,
    session,
    sliding,
    summing,
    tumbling,
)


def counts(op, events, partition=0):
    emitted = []
    for key, t in events:
        emitted += op.process(key, t, 1, partition=partition).results
    return [(r.key, r.window.start, r.value, r.update) for r in emitted]


def test_tumbling_emits_on_close_with_grace() -> None:
    op = WindowedAggregation(tumbling(10), counter(), grace=5)
    assert counts(op, [("u", 1), ("u", 3), ("u", 12)]) == []
    # watermark 14 < 10 + 5: still open; 15 closes [0, 10)
    assert counts(op, [("u", 14)]) == []
    assert counts(op, [("u", 15)]) == [("u", 0.0, 2, False)]
    assert op.open_windows() == [("u", Window(10.0, 20.0))]


def test_drop_policy_counts_late_events() -> None:
    op = WindowedAggregation(tumbling(10), counter(), late_policy="drop")
    counts(op, [("u", 5), ("u", 25)])
    assert counts(op, [("u", 7)]) == []
    assert op.dropped == 1
    assert op.flush().results[0].value == 1


def test_side_policy_returns_late_events_separately() -> None:
    op = WindowedAggregation(sliding(10, 5), counter(), late_policy=LatePolicy.SIDE)
    op.process("u", 1.0, 1)
    op.process("u", 30.0, 1)
    out = op.process("u", 8.0, 99)
    # 8 belongs to [0, 10) and [5, 15): both closed -> two side entries, nothing dropped
    assert [(e.key, e.event_time, e.value, e.window) for e in out.late] == [
        ("u", 8.0, 99, Window(0.0, 10.0)),
        ("u", 8.0, 99, Window(5.0, 15.0)),
    ]
    assert op.dropped == 0


def test_update_policy_reemits_closed_window_until_retention() -> None:
    op = WindowedAggregation(tumbling(10), counter(), late_policy="update", update_retention=20)
    assert counts(op, [("u", 1), ("u", 2), ("u", 11)]) == [("u", 0.0, 2, False)]
    assert counts(op, [("u", 3)]) == [("u", 0.0, 3, True)]
    # watermark 30 = end 10 + retention 20: the closed window is purged, later events drop
    assert counts(op, [("u", 30)]) == [("u", 10.0, 1, False)]
    assert counts(op, [("u", 4)]) == []
    assert op.dropped == 1


def test_sessions_merge_when_an_event_bridges_them() -> None:
    op = WindowedAggregation(session(5), collecting(), lateness=100)
    for t, v in [(0, "a"), (3, "b"), (20, "c"), (22, "d")]:
        op.process("u", t, v)
    assert op.open_windows() == [("u", Window(0, 8)), ("u", Window(20, 27))]
    op.process("u", 12, "bridge")  # within 5 of 8-5=3? no: 12-3=9 > 5; joins neither
    assert len(op.open_windows()) == 3
    op.process("u", 8, "x")  # 8-3 = 5 <= gap and 12-8 = 4: bridges first and middle
    op.process("u", 16, "y")  # 16-12 = 4 and 20-16 = 4: bridges into one session
    assert op.open_windows() == [("u", Window(0, 27))]
    (result,) = op.flush().results
    assert result.value == ["a", "b", "x", "bridge", "y", "c", "d"]


def test_sessions_need_merge() -> None:
    no_merge = Aggregator(lambda: 0, lambda a, v: a + v, lambda a: a)
    with pytest.raises(ConfigError, match="merge"):
        WindowedAggregation(session(5), no_merge)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: tumbling(0), "size"),
        (lambda: sliding(5, 10), "slide"),
        (lambda: session(-1), "gap"),
        (lambda: WindowedAggregation(tumbling(5), counter(), late_policy="keep"), "late policy"),
        (lambda: WatermarkTracker(lateness=-1), "lateness"),
    ],
)
def test_bad_configuration_says_what_is_wrong(build, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_idle_timeout_closes_windows_without_new_events() -> None:
    clock = ManualClock(1000.0)
    op = WindowedAggregation(tumbling(60), counter(), grace=5, idle_timeout=30, clock=clock)
    op.process("quiet-user", 10.0, 1)
    clock.advance(29)
    assert op.advance().results == []  # not idle yet: watermark stays 10
    assert op.watermark == 10.0
    clock.advance(1)  # idle: watermark = 10 + 30 s of silence = 40
    assert op.watermark == 40.0
    assert op.advance().results == []
    clock.advance(24)  # 10 + 54 = 64 < 65
    assert op.advance().results == []
    clock.advance(1)  # 65 = end 60 + grace 5
    (result,) = op.advance().results
    assert (result.key, result.window, result.value) == ("quiet-user", Window(0, 60), 1)


def test_without_idle_timeout_windows_wait_for_events() -> None:
    clock = ManualClock()
    op = WindowedAggregation(tumbling(60), counter(), clock=clock)
    op.process("u", 10.0, 1)
    clock.advance(10_000)
    assert op.advance().results == []


def test_watermark_is_min_across_partitions_and_monotonic() -> None:
    clock = ManualClock()
    marks = WatermarkTracker(lateness=2, idle_timeout=10, clock=clock)
    assert marks.current() == -math.inf
    marks.observe(100, partition=0)
    marks.observe(50, partition=1)
    assert marks.current() == 48
    marks.observe(200, partition=1)
    assert marks.current() == 98
    clock.advance(10)  # both idle: each advances by its silence
    assert marks.current() == 108
    marks.observe(101, partition=0)  # partition 0 wakes up, its own mark drops to 99
    assert marks.partition_watermark(0) == 99
    assert marks.current() == 108  # but the overall watermark never goes back


def test_events_from_a_slow_partition_hold_windows_open() -> None:
    op = WindowedAggregation(tumbling(10), counter())
    op.process("a", 5, 1, partition="p0")
    op.process("b", 3, 1, partition="p1")
    assert op.process("a", 50, 1, partition="p0").results == []  # p1 still at 3
    out = op.process("b", 20, 1, partition="p1")
    assert sorted((r.key, r.window.start) for r in out.results) == [("a", 0.0), ("b", 0.0)]


def test_watermark_snapshot_round_trip() -> None:
    clock = ManualClock()
    marks = WatermarkTracker(lateness=1, clock=clock)
    marks.observe(10, partition=3)
    marks.observe(7, partition="eu")
    copy = WatermarkTracker(lateness=1, clock=clock)
    copy.restore(marks.snapshot())
    assert copy.current() == marks.current() == 6
    assert copy.partition_watermark(3) == 9


def test_a_restart_does_not_make_partitions_idle() -> None:
    clock = ManualClock()
    marks = WatermarkTracker(idle_timeout=1, clock=clock)
    marks.observe(100, partition=0)
    snapshot = marks.snapshot()
    clock.advance(60)  # the worker was down for a minute; the partition's backlog waits
    restarted = WatermarkTracker(idle_timeout=1, clock=clock)
    restarted.restore(snapshot)
    assert restarted.current() == 100  # not 160: nothing says event time moved meanwhile
    clock.advance(2)  # silent for idle_timeout after the restart: idle from now on
    assert restarted.current() == 102


def test_kv_store_keeps_state_across_restart(kv) -> None:
    op = WindowedAggregation(tumbling(10), summing(float), lateness=5, store=KVWindowStore(kv))
    op.process("user/1 é", 1.0, 2.5)
    op.process("user/1 é", 2.0, 1.5)
    op.process("other", 12.0, 7.0)
    op.checkpoint()
    restarted = WindowedAggregation(
        tumbling(10), summing(float), lateness=5, store=KVWindowStore(kv)
    )
    assert restarted.open_windows() == [("other", Window(10, 20)), ("user/1 é", Window(0, 10))]
    assert restarted.watermark == 7.0
    results = restarted.process("other", 25.0, 1.0).results
    assert [(r.key, r.value) for r in results] == [("user/1 é", 4.0), ("other", 7.0)]
    # closed windows are deleted from the kv store
    assert [item.key for item in kv.scan_prefix("windows/w/")] == ["windows/w/other/20.0"]


def test_kv_sessions_recover_and_merge(kv) -> None:
    store = KVWindowStore(kv, prefix="s/")
    op = WindowedAggregation(session(5), collecting(), lateness=10, store=store)
    op.process("k", 0.0, "a")
    op.process("k", 9.0, "b")
    restarted = WindowedAggregation(session(5), collecting(), lateness=10, store=store)
    restarted.process("k", 4.5, "c")  # bridges [0, 5] and [9, 14]
    assert restarted.open_windows() == [("k", Window(0, 14))]
    assert restarted.flush().results[0].value == ["a", "c", "b"]
    assert list(kv.scan_prefix("s/w/")) == []


def test_memory_store_forgets_closed_windows() -> None:
    store = MemoryWindowStore()
    op = WindowedAggregation(tumbling(1), counter(), store=store)
    for t in range(100):
        op.process("k", float(t), 1)
    assert len(store) == 1
