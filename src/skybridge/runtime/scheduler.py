"""Interval and cron jobs shared by many workers: each tick runs on exactly one of them.

Tick times are computed the same way on every worker (interval ticks are ``anchor + k *
every``, default anchor 0 = aligned to the epoch; cron ticks follow a 5-field expression in a
time zone, UTC by default), so workers agree on what "the 10:05 run" is. To run tick ``T`` a
worker takes the lease ``<job>@<T>`` (:mod:`.leases`), checks the tick's *done marker*, runs
the job, writes the marker, updates the job state and releases the lease. A worker that dies
mid-run leaves no marker, and the tick stays due while its lease is held: once the lease
(``lease_ttl``, keep it above the job's run time) expires, another worker (or the restarted
one) runs the tick again if the ``missed`` policy still runs it (within ``misfire_grace`` for
``skip``), else counts it as skipped. A crash gives at-least-once or a counted skip, never a
tick passed over in silence.

Job state (``JobState``: last tick, last run, last result, last error, next run, counts) is
one JSON item per job in the kv store, written by compare-and-set.

Missed ticks (workers were down, or a run overran) follow the job's ``missed`` policy, applied
to the ticks due since the last handled one:

* ``skip``: run only the latest due tick, and only if it is at most ``misfire_grace`` seconds
  old; all older ticks are skipped (counted in ``JobState.skipped``).
* ``catch_up``: run every missed tick oldest first, at most ``max_catch_up`` (the most recent
  ones); older ones are skipped.
* ``run_once``: run once for the whole backlog (for the latest tick), however old it is.

A new job starts from the latest tick at or before its first ``run_pending`` and first runs at
the next tick. ``jitter`` delays each tick by a fraction of ``jitter`` seconds derived from a
hash of (job, tick), the same on every worker.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from skybridge.backends.kv.base import KeyValueStore
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError, Conflict
from skybridge.core.observability import error_origin, error_summary, get_logger
from skybridge.runtime.cron import CronSchedule, parse_cron
from skybridge.runtime.leases import LeaseManager

log = get_logger(__name__)

#: How many missed ticks are counted at most (the count is informational).
_COUNT_CAP = 10_000
#: What :meth:`Scheduler._run_tick` answers when another worker holds the tick's lease.
_HELD = object()


class MissedRunPolicy(enum.StrEnum):
    SKIP = "skip"
    CATCH_UP = "catch_up"
    RUN_ONCE = "run_once"


class Schedule(Protocol):
    def latest(self, until: float) -> float | None:
        """The last tick at or before ``until``."""
        ...

    def previous(self, tick: float) -> float | None:
        """The tick before ``tick``."""
        ...

    def next_after(self, t: float) -> float:
        """The first tick strictly after ``t``."""
        ...


@dataclass(frozen=True, slots=True)
class Every:
    """Ticks at ``anchor + k * seconds``."""

    seconds: float
    anchor: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ConfigError(f"job interval must be > 0 seconds, got {self.seconds!r}")

    def latest(self, until: float) -> float:
        return self.anchor + math.floor((until - self.anchor) / self.seconds) * self.seconds

    def previous(self, tick: float) -> float:
        return tick - self.seconds

    def next_after(self, t: float) -> float:
        return self.latest(t) + self.seconds


@dataclass(frozen=True, slots=True)
class JobRun:
    """What a job callable receives: which tick it runs, on which worker, with which token."""

    job: str
    scheduled_for: float
    worker: str
    token: int
    missed: int = 0


@dataclass(slots=True)
class JobState:
    """Persisted per job (JSON in the kv store)."""

    last_tick: float | None = None
    last_run_at: float | None = None
    last_result: Any = None
    last_error: str | None = None
    next_run: float | None = None
    runs: int = 0
    failures: int = 0
    skipped: int = 0


@dataclass(slots=True)
class Job:
    name: str
    fn: Callable[[JobRun], object]
    schedule: Schedule
    missed: MissedRunPolicy
    max_catch_up: int = 10
    misfire_grace: float = 60.0
    jitter: float = 0.0
    lease_ttl: float = 300.0

    def offset(self, tick: float) -> float:
        """Deterministic jitter for ``tick`` in ``[0, jitter)``."""
        if not self.jitter:
            return 0.0
        digest = hashlib.sha256(f"{self.name}@{tick!r}".encode()).digest()
        return self.jitter * int.from_bytes(digest[:8], "big") / 2**64


class Scheduler:
    """Runs registered jobs; many ``Scheduler`` s sharing one kv store split the ticks.

    Args:
        kv: shared store for job state, tick leases and done markers.
        worker: this worker's name (default: random).
        prefix: kv key prefix.
        clock: time source for :meth:`run_forever` and leases.
        done_retention: seconds the kv keeps per-tick markers and lease records.
    """

    def __init__(
        self,
        kv: KeyValueStore,
        *,
        worker: str | None = None,
        prefix: str = "scheduler/",
        clock: Clock = SYSTEM_CLOCK,
        done_retention: float = 7 * 86400.0,
    ) -> None:
        self.kv = kv
        self.worker = worker or uuid.uuid4().hex[:12]
        self.prefix = prefix
        self.clock = clock
        self.done_retention = done_retention
        self.leases = LeaseManager(
            kv, prefix=f"{prefix}lease/", clock=clock, record_ttl=done_retention
        )
        self.jobs: dict[str, Job] = {}
        self._stopping = threading.Event()
        self._run_stop = threading.Event()

    # -- registration -----------------------------------------------------------------------

    def every(
        self,
        name: str,
        seconds: float,
        fn: Callable[[JobRun], object],
        *,
        anchor: float = 0.0,
        **options: Any,
    ) -> Job:
        """Register ``fn`` to run every ``seconds`` (options: ``missed``, ``max_catch_up``,
        ``misfire_grace``, ``jitter``, ``lease_ttl``)."""
        return self._add(name, fn, Every(seconds, anchor), **options)

    def cron(
        self,
        name: str,
        expression: str,
        fn: Callable[[JobRun], object],
        *,
        tz: str = "UTC",
        **options: Any,
    ) -> Job:
        """Register ``fn`` on a 5-field cron ``expression`` evaluated in time zone ``tz``."""
        return self._add(name, fn, parse_cron(expression, tz=tz), **options)

    def _add(
        self,
        name: str,
        fn: Callable[[JobRun], object],
        schedule: Every | CronSchedule,
        *,
        missed: MissedRunPolicy | str = MissedRunPolicy.SKIP,
        **options: Any,
    ) -> Job:
        if not name or "@" in name or name in self.jobs:
            raise ConfigError(f"job name {name!r} is empty, has '@' or is already registered")
        try:
            policy = MissedRunPolicy(missed)
        except ValueError:
            raise ConfigError(
                f"unknown missed-run policy {missed!r}", hint="use skip, catch_up or run_once"
            ) from None
        try:
            job = Job(name, fn, schedule, policy, **options)
        except TypeError as exc:
            raise ConfigError(f"job {name!r}: {exc}") from None
        if job.max_catch_up < 1 or job.lease_ttl <= 0 or job.jitter < 0:
            raise ConfigError(f"job {name!r}: max_catch_up >= 1, lease_ttl > 0, jitter >= 0")
        self.jobs[name] = job
        return job

    # -- running ----------------------------------------------------------------------------

    def run_pending(self, now: float | None = None) -> list[JobRun]:
        """Run every due tick of every job (as this worker); return the runs it made."""
        now = self.clock.now() if now is None else now
        started = self.clock.now()
        done: list[JobRun] = []
        for name in sorted(self.jobs):
            if self._stopping.is_set():
                break
            done.extend(self._run_job(self.jobs[name], now, started))
        return done

    def run_forever(self, stop: threading.Event | None = None, *, poll: float = 1.0) -> None:
        """Call :meth:`run_pending` until ``stop`` (or :meth:`stop`) is set; a running job
        finishes first."""
        stop = stop or threading.Event()
        self._run_stop = stop
        while not (stop.is_set() or self._stopping.is_set()):
            self.run_pending(self.clock.now())
            now = self.clock.now()
            # A next run already past (a tick another worker holds, or a schedule made
            # longer) is looked at again after ``poll``, not at once in a busy loop.
            stop.wait(min([poll, *(t - now for t in self._next_runs() if t > now)]))

    def stop(self) -> None:
        """Ask :meth:`run_forever` / :meth:`run_pending` to stop after the current job."""
        self._stopping.set()
        self._run_stop.set()

    def state(self, name: str) -> JobState:
        """The persisted state of job ``name`` (defaults if it never ran)."""
        doc = self.kv.get_json(self._state_key(name))
        return JobState(**doc) if isinstance(doc, dict) else JobState()

    # -- one job ----------------------------------------------------------------------------

    def _run_job(self, job: Job, now: float, started: float) -> list[JobRun]:
        """Run ``job``'s due ticks as of ``now``; each tick's lease is taken at ``now`` moved
        on by the clock's time since ``started`` (the jobs run before it took that long),
        so it never starts out expired for another worker to take too."""
        state = self._baseline(job, now)
        due = self._due(job, state.last_tick, now)
        if not due:
            if state.next_run is not None and state.next_run <= now:  # the schedule changed
                self._update(job.name, lambda s: self._refresh_next_run(job, s))
            return []
        plan = self._plan(job, due, now)
        missed = len(due) - len(plan)
        runs: list[JobRun] = []
        held: float | None = None
        for tick in plan:
            if self._stopping.is_set():
                return runs
            leased_at = now + max(0.0, self.clock.now() - started)
            run = self._run_tick(job, tick, now, leased_at, missed if tick == plan[0] else 0)
            if isinstance(run, JobRun):
                runs.append(run)
            elif run is _HELD and held is None:
                held = tick
        latest = due[-1]
        if held is not None:
            # Another worker holds that tick: it may be running it, or have died doing so.
            # The tick stays due (its done marker, or its lease expiring, settles it), so a
            # dead worker's tick is run again, or counted as skipped, never passed over.
            before = job.schedule.previous(held)
            if before is None or (state.last_tick is not None and before <= state.last_tick):
                return runs
            latest, missed = before, 0

        def advance(s: JobState) -> None:
            if s.last_tick is None or s.last_tick < latest:
                # Nothing ran (skip policy, all too old): the first worker here counts them.
                s.skipped += missed if not plan else 0
                s.last_tick = latest
            s.next_run = self._next_run(job, s.last_tick)

        if not self._stopping.is_set():
            self._update(job.name, advance)
        return runs

    def _baseline(self, job: Job, now: float) -> JobState:
        state = self.state(job.name)
        if state.last_tick is None:

            def start(s: JobState) -> None:
                if s.last_tick is None:
                    s.last_tick = job.schedule.latest(now)
                    s.next_run = self._next_run(job, s.last_tick)

            state = self._update(job.name, start)
        return state

    def _due(self, job: Job, after: float | None, now: float) -> list[float]:
        """Due ticks after ``after``, oldest first (at most ``_COUNT_CAP``)."""
        ticks: list[float] = []
        tick = job.schedule.latest(now)
        while tick is not None and (after is None or tick > after) and len(ticks) < _COUNT_CAP:
            if tick + job.offset(tick) <= now:
                ticks.append(tick)
            if after is None:
                break
            tick = job.schedule.previous(tick)
        ticks.reverse()
        return ticks

    def _plan(self, job: Job, due: list[float], now: float) -> list[float]:
        latest = due[-1]
        if job.missed is MissedRunPolicy.CATCH_UP:
            return due[-job.max_catch_up :]
        if job.missed is MissedRunPolicy.RUN_ONCE:
            return [latest]
        on_time = now - (latest + job.offset(latest)) <= job.misfire_grace
        return [latest] if on_time else []

    def _refresh_next_run(self, job: Job, state: JobState) -> None:
        state.next_run = self._next_run(job, state.last_tick)

    def _run_tick(
        self, job: Job, tick: float, now: float, leased_at: float, missed: int
    ) -> JobRun | object | None:
        """The run, :data:`_HELD` when another worker holds the tick's lease, or ``None``
        when the tick was already done."""
        lease = self.leases.acquire(
            f"{job.name}@{tick!r}", self.worker, job.lease_ttl, now=leased_at
        )
        if lease is None:
            return _HELD
        try:
            marker = f"{self.prefix}done/{job.name}@{tick!r}"
            if self.kv.exists(marker):
                return None
            run = JobRun(job.name, tick, self.worker, lease.token, missed)
            result, error = self._call(job, run)
            self.kv.put(marker, self.worker.encode(), ttl=self.done_retention)
            self._record(job, run, now, result, error)
            return run
        finally:
            self.leases.release(lease)

    def _call(self, job: Job, run: JobRun) -> tuple[Any, str | None]:
        try:
            return job.fn(run), None
        except Exception as exc:  # a failing job must not stop the scheduler
            log.warning(
                "job failed",
                job=job.name,
                tick=run.scheduled_for,
                error=error_summary(exc),
                at=error_origin(exc),
            )
            return None, f"{type(exc).__name__}: {exc}"

    def _record(self, job: Job, run: JobRun, now: float, result: Any, error: str | None) -> None:
        try:
            json.dumps(result)
        except (TypeError, ValueError):
            result = repr(result)

        def finish(s: JobState) -> None:
            s.last_run_at, s.last_result, s.last_error = now, result, error
            s.runs += 1
            s.failures += error is not None
            s.skipped += run.missed
            tick = run.scheduled_for
            s.last_tick = tick if s.last_tick is None else max(s.last_tick, tick)
            s.next_run = self._next_run(job, s.last_tick)

        self._update(job.name, finish)

    # -- state ------------------------------------------------------------------------------

    def _next_run(self, job: Job, after: float | None) -> float | None:
        if after is None:
            return None
        tick = job.schedule.next_after(after)
        return tick + job.offset(tick)

    def _next_runs(self) -> list[float]:
        return [s.next_run for name in self.jobs if (s := self.state(name)).next_run is not None]

    def _state_key(self, name: str) -> str:
        return f"{self.prefix}job/{name}"

    def _update(self, name: str, mutate: Callable[[JobState], None]) -> JobState:
        key = self._state_key(name)
        for _ in range(100):
            item = self.kv.get_item(key)
            state = JobState(**json.loads(item.value)) if item is not None else JobState()
            mutate(state)
            raw = json.dumps(asdict(state), separators=(",", ":")).encode()
            try:
                self.kv.compare_and_set(key, raw, 0 if item is None else item.version)
            except Conflict:
                continue
            return state
        raise Conflict(f"job state {name!r} kept changing; gave up after 100 attempts")
