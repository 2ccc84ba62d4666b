"""Scheduler: each tick once across workers (threads and processes), missed-run policies, state."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from typing import Any

import pytest

from skybridge.backends import kv as kv_family
from skybridge.core.clock import ManualClock
from skybridge.core.errors import ConfigError, ValidationError
from skybridge.runtime import Scheduler

T0 = 1_699_999_980.0  # a multiple of 60 (and so of 10)


def recorder():
    calls: list[float] = []

    def job(run):
        calls.append(run.scheduled_for)
        return {"tick": run.scheduled_for}

    return calls, job


def test_new_job_starts_at_next_tick_and_persists_state(kv) -> None:
    calls, job = recorder()
    sched = Scheduler(kv, worker="w1")
    sched.every("report", 60, job)
    assert sched.run_pending(T0 + 5) == []  # baseline: the 0 s tick is in the past
    assert sched.state("report").next_run == T0 + 60
    assert sched.run_pending(T0 + 59) == []
    (run,) = sched.run_pending(T0 + 61)
    assert (run.job, run.scheduled_for, run.worker, run.missed) == ("report", T0 + 60, "w1", 0)
    assert sched.run_pending(T0 + 62) == []
    state = sched.state("report")
    assert state.last_run_at == T0 + 61
    assert state.last_result == {"tick": T0 + 60}
    assert state.last_error is None
    assert state.next_run == T0 + 120
    assert state.runs == 1
    assert calls == [T0 + 60]


def test_failures_are_recorded_and_do_not_stop_other_jobs(kv) -> None:
    sched = Scheduler(kv)
    sched.every("broken", 10, lambda run: 1 / 0)
    sched.every("fine", 10, lambda run: object())  # not JSON: stored as repr
    sched.run_pending(T0)
    assert len(sched.run_pending(T0 + 10)) == 2
    broken, fine = sched.state("broken"), sched.state("fine")
    assert broken.last_error == "ZeroDivisionError: division by zero"
    assert (broken.runs, broken.failures) == (1, 1)
    assert fine.last_result.startswith("<object object")


def down_for_ten_ticks(kv, policy: str, *, at: float, **options):
    calls, job = recorder()
    sched = Scheduler(kv)
    sched.every("job", 10, job, missed=policy, **options)
    sched.run_pending(T0)
    runs = sched.run_pending(T0 + at)
    return calls, runs, sched.state("job")


def test_skip_runs_only_the_latest_tick_when_on_time(kv) -> None:
    calls, runs, state = down_for_ten_ticks(kv, "skip", at=100.5, misfire_grace=1)
    assert calls == [T0 + 100]
    assert runs[0].missed == 9
    assert (state.skipped, state.last_tick) == (9, T0 + 100)


def test_skip_runs_nothing_when_the_latest_tick_is_too_old(kv) -> None:
    calls, _, state = down_for_ten_ticks(kv, "skip", at=105, misfire_grace=1)
    assert calls == []
    assert (state.skipped, state.last_tick, state.next_run) == (10, T0 + 100, T0 + 110)


def test_catch_up_runs_each_missed_tick_bounded(kv) -> None:
    calls, _, state = down_for_ten_ticks(kv, "catch_up", at=105, max_catch_up=4)
    assert calls == [T0 + 70, T0 + 80, T0 + 90, T0 + 100]
    assert (state.runs, state.skipped) == (4, 6)


def test_run_once_runs_one_catch_up_run(kv) -> None:
    calls, runs, state = down_for_ten_ticks(kv, "run_once", at=105)
    assert calls == [T0 + 100]
    assert runs[0].missed == 9
    assert state.runs == 1


def test_jitter_is_deterministic_and_bounded(kv) -> None:
    a, b = Scheduler(kv), Scheduler(kv)
    job_a = a.every("j", 60, lambda run: None, jitter=30)
    job_b = b.every("j", 60, lambda run: None, jitter=30)
    offsets = [job_a.offset(T0 + 60 * k) for k in range(50)]
    assert offsets == [job_b.offset(T0 + 60 * k) for k in range(50)]
    assert all(0 <= o < 30 for o in offsets)
    assert len(set(offsets)) > 40
    a.run_pending(T0)
    due = T0 + 60 + job_a.offset(T0 + 60)
    assert a.run_pending(due - 0.01) == []
    assert len(a.run_pending(due)) == 1


def test_cron_job(kv) -> None:
    calls, job = recorder()
    sched = Scheduler(kv)
    sched.cron("nightly", "30 2 * * *", job)
    day = 86400.0
    midnight = T0 - T0 % day
    sched.run_pending(midnight)
    assert sched.state("nightly").next_run == midnight + 2.5 * 3600
    sched.run_pending(midnight + 2.5 * 3600 + 30)
    assert calls == [midnight + 2.5 * 3600]


def test_bad_registrations(kv) -> None:
    sched = Scheduler(kv)
    sched.every("a", 10, lambda run: None)
    with pytest.raises(ConfigError, match="already registered"):
        sched.every("a", 10, lambda run: None)
    with pytest.raises(ConfigError, match="missed-run policy"):
        sched.every("b", 10, lambda run: None, missed="sometimes")
    with pytest.raises(ConfigError, match="interval"):
        sched.every("c", 0, lambda run: None)
    with pytest.raises(ValidationError, match="minute field '99'"):
        sched.cron("d", "99 * * * *", lambda run: None)


def test_two_schedulers_in_threads_run_each_tick_once(kv_url) -> None:
    ran: Counter[float] = Counter()
    lock = threading.Lock()
    nows = [T0 + 2.5 * i for i in range(160)]  # 40 ticks of 10 s
    barrier = threading.Barrier(2)

    def job(run):
        with lock:
            ran[run.scheduled_for] += 1

    def worker(name: str) -> None:
        store = kv_family.connect(kv_url)
        try:
            sched = Scheduler(store, worker=name)
            sched.every("tick", 10, job, missed="catch_up", max_catch_up=100)
            barrier.wait()
            for now in nows:
                sched.run_pending(now)
        finally:
            store.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = [T0 + 10 * k for k in range(1, 40)]
    assert sorted(ran) == expected
    assert set(ran.values()) == {1}


WORKER = textwrap.dedent(
    """
    import os, sys, time
    from skybridge.backends import kv as kv_family
    from skybridge.runtime import Scheduler

    store = kv_family.connect(sys.argv[1])
    store.put(f"ready/{os.getpid()}", b"1")
    deadline = time.monotonic() + 30
    while len(list(store.keys("ready/"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)  # start together so the workers really race
    sched = Scheduler(store, worker=str(os.getpid()))
    sched.every(
        "tick", 10,
        lambda run: store.put(f"ran/{run.scheduled_for!r}/{run.worker}", b"1"),
        missed="catch_up", max_catch_up=100,
    )
    t0 = float(sys.argv[2])
    for i in range(160):
        sched.run_pending(t0 + 2.5 * i)
    store.close()
    """
)


def test_two_scheduler_processes_run_each_tick_once(kv, kv_url) -> None:
    kv.put("start", b"1")  # create the database before the workers race to
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, kv_url, repr(T0)]) for _ in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    ticks = Counter(item.key.split("/")[1] for item in kv.scan_prefix("ran/"))
    assert sorted(float(t) for t in ticks) == [T0 + 10 * k for k in range(1, 40)]
    assert set(ticks.values()) == {1}
    workers = Counter(item.key.split("/")[2] for item in kv.scan_prefix("ran/"))
    assert set(workers) <= {str(p.pid) for p in procs}


def test_run_forever_stops_gracefully(kv) -> None:
    clock = ManualClock(T0)
    started, release = threading.Event(), threading.Event()
    finished: list[float] = []

    def slow(run):
        started.set()
        release.wait(5)
        finished.append(run.scheduled_for)

    sched = Scheduler(kv, clock=clock)
    sched.every("slow", 10, slow)
    sched.run_pending()  # baseline at T0
    clock.advance(10)
    loop = threading.Thread(target=sched.run_forever, kwargs={"poll": 0.01})
    loop.start()
    assert started.wait(5)
    sched.stop()  # asked while the job runs: the job finishes, then the loop ends
    release.set()
    loop.join(5)
    assert not loop.is_alive()
    assert finished == [T0 + 10]
    assert sched.state("slow").runs == 1


def test_run_forever_honours_a_stop_event(kv) -> None:
    stop = threading.Event()
    sched = Scheduler(kv)
    sched.every("noop", 3600, lambda run: None)
    loop = threading.Thread(target=sched.run_forever, args=(stop,), kwargs={"poll": 0.05})
    loop.start()
    stop.set()
    loop.join(5)
    assert not loop.is_alive()


def test_a_tick_whose_worker_died_mid_run_runs_again_once_its_lease_expires(kv) -> None:
    ran: list[tuple[str, float]] = []

    def scheduler(worker: str) -> Scheduler:
        found = Scheduler(kv, worker=worker, prefix="lost/")
        found.every("job", 10, lambda r: ran.append((worker, r.scheduled_for)), lease_ttl=5)
        return found

    a, b = scheduler("A"), scheduler("B")
    a.run_pending(now=1000.0)  # the baseline: the first run is at 1010
    # A takes tick 1010's lease, as a run does, and dies (SIGKILL): no marker, no release.
    assert a.leases.acquire("job@1010.0", "A", 5, now=1010.0) is not None
    assert b.run_pending(now=1011.0) == []  # held: A may still be running it
    assert b.state("job").last_tick == 1000.0  # ... so it stays due
    assert [r.scheduled_for for r in b.run_pending(now=1016.0)] == [1010.0]  # lease expired
    assert [r.scheduled_for for r in b.run_pending(now=1021.0)] == [1020.0]
    assert ran == [("B", 1010.0), ("B", 1020.0)]
    assert b.state("job").skipped == 0


def test_a_dead_workers_tick_too_old_to_run_again_is_counted_as_skipped(kv) -> None:
    ran: list[float] = []
    b = Scheduler(kv, worker="B", prefix="old/")
    b.every("job", 10, lambda r: ran.append(r.scheduled_for), lease_ttl=300, misfire_grace=2)
    b.run_pending(now=1000.0)
    assert b.leases.acquire("job@1010.0", "A", 300, now=1010.0) is not None  # A died
    assert b.run_pending(now=1011.0) == []
    b.run_pending(now=1311.0)  # A's lease is gone, 1010 is too old for skip; 1310 is not
    assert ran == [1310.0]
    assert b.state("job").skipped == 30  # 1010 .. 1300: counted, not passed over


def test_an_idle_scheduler_does_not_spin_when_the_next_run_is_past(kv) -> None:
    # A schedule made longer leaves next_run in the past: the wait is poll, not zero.
    clock = ManualClock(1000.0)
    short = Scheduler(kv, worker="A", prefix="spin/", clock=clock)
    short.every("job", 1, lambda r: None)
    short.run_pending(now=1000.0)
    short.run_pending(now=1001.0)
    longer = Scheduler(kv, worker="A", prefix="spin/", clock=clock)
    longer.every("job", 3600, lambda r: None)
    clock.advance(0.5)
    longer.run_pending(now=1001.5)
    assert (longer.state("job").next_run or 0) > 1001.5  # refreshed from the new schedule
    stop = threading.Event()
    calls = Counter[str]()
    original = longer.run_pending

    def counted(now: float | None = None) -> list[Any]:
        calls["run_pending"] += 1
        if calls["run_pending"] >= 3:
            stop.set()
        return original(now)

    longer.run_pending = counted  # type: ignore[method-assign]
    started = time.monotonic()
    runner = threading.Thread(target=lambda: longer.run_forever(stop, poll=0.2), daemon=True)
    runner.start()
    assert stop.wait(5)
    elapsed = time.monotonic() - started
    runner.join(5)  # its last pass reads the kv: done before the fixture closes it
    assert not runner.is_alive()
    assert elapsed >= 0.35  # two waits of poll, not a busy loop


def test_a_tick_run_after_a_slow_job_is_leased_from_when_it_runs(kv) -> None:
    """One pass runs its jobs one after another: a tick's lease counts from when it is taken,
    not from when the pass began, so another worker cannot take a tick that is running."""
    clock = ManualClock(T0)
    ran: list[str] = []
    other = Scheduler(kv, worker="B", clock=clock, prefix="slow/")

    def slow(run: Any) -> None:
        ran.append("A:a")
        clock.advance(40)  # longer than b's lease, shorter than a tick

    def quick(run: Any) -> None:
        ran.append("A:b")
        assert other.run_pending(clock.now()) == []  # b's tick is held by A

    def scheduler(worker: str) -> Scheduler:
        found = Scheduler(kv, worker=worker, clock=clock, prefix="slow/")
        found.every("a", 60, slow if worker == "A" else lambda r: ran.append("B:a"))
        found.every("b", 60, quick if worker == "A" else lambda r: ran.append("B:b"), lease_ttl=30)
        return found

    a = scheduler("A")
    other.jobs = scheduler("B").jobs
    a.run_pending(T0)  # the baselines
    clock.advance(61)
    a.run_pending(clock.now())
    assert ran == ["A:a", "A:b"]
