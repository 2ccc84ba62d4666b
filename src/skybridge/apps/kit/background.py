"""Running the apps' background work: pipelines, services and scheduled jobs.

:class:`Background` runs, for each app, every pipeline (``pipeline.run()`` until stopped),
every service (``service(ctx, stop)``) and one scheduler for the app's jobs, each in a thread.
``skybridge up`` runs it beside the HTTP service (``--demo`` adds the demo services and
the demo seeds marked ``demo_background``) and
``skybridge worker run`` in the foreground. A part that fails is logged and started again after
a growing pause (1 s doubling to a minute); one that is not configured (its factory raises
``ConfigError``) waits in state ``not-configured`` and is tried again at the same slow pace, so
writing the missing setting is enough.

Jobs run on the app's ``kv`` backend: each tick runs on exactly one of all the processes that
share it (see :mod:`skybridge.runtime.scheduler`), and :func:`job_state` reads there when a job
last ran, what it answered or why it failed.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import AppSpec
from skybridge.backends.kv import KeyValueStore
from skybridge.core.config import Settings
from skybridge.core.errors import ConfigError
from skybridge.core.observability import get_logger
from skybridge.core.secret import scrub
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.scheduler import JobRun, JobState, MissedRunPolicy, Scheduler
from skybridge.runtime.worker import run_worker

log = get_logger(__name__)
Kind = Literal["pipeline", "service", "jobs", "demo"]
State = Literal["starting", "running", "restarting", "not-configured", "stopped"]
#: Pauses before a failed part is started again: doubles from the first to the last.
FIRST_PAUSE, LAST_PAUSE = 1.0, 60.0
#: Seconds between a pipeline's stop relay's checks that its run has ended.
RELAY_CHECK = 0.5


@dataclass(frozen=True)
class ScheduledJob:
    """A job an app schedules: every ``every`` seconds, or on a 5-field ``cron`` expression.

    ``run`` gets the tick (:class:`~skybridge.runtime.scheduler.JobRun`); its return value is
    kept as the job's last result. ``close`` releases what the job holds when it stops.
    """

    run: Callable[[JobRun], Any]
    every: float | None = None
    cron: str | None = None
    missed: MissedRunPolicy = MissedRunPolicy.SKIP
    lease_ttl: float = 300.0
    close: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ConfigError("a scheduled job needs exactly one of every= or cron=")


@dataclass
class Part:
    """One running part of an app, and how it is doing."""

    app: str
    kind: Kind
    name: str
    start: Callable[[threading.Event], None]
    state: State = "starting"
    error: str | None = None
    restarts: int = 0
    since: float = field(default_factory=time.time)

    @property
    def label(self) -> str:
        return f"{self.app}.{self.name}" if self.kind != "jobs" else f"{self.app}.jobs"

    def status(self) -> dict[str, Any]:
        keys = ("app", "kind", "name", "state", "error", "restarts", "since")
        return {key: getattr(self, key) for key in keys}


def run_pipeline(pipeline: Pipeline, stop: threading.Event) -> None:
    """Run ``pipeline`` until ``stop`` is set, then close what it holds.

    A thread passes ``stop`` on to the pipeline; it ends with this run (within
    :data:`RELAY_CHECK` seconds), so a pipeline that fails and is started again leaves no
    thread, and no reference to itself, behind.
    """
    ended = threading.Event()

    def relay() -> None:
        while not stop.wait(RELAY_CHECK):
            if ended.is_set():
                return
        pipeline.stop()

    threading.Thread(target=relay, name=f"stop-{pipeline.name}", daemon=True).start()
    try:
        if not stop.is_set():
            pipeline.run()
    finally:
        ended.set()
        _close(pipeline)


def serve_pipeline(pipeline: Pipeline) -> None:
    """Run ``pipeline`` in the foreground until SIGTERM or SIGINT (an app's ``serve``
    command), then close what it holds."""
    try:
        run_worker(pipeline)
    finally:
        _close(pipeline)


def _close(pipeline: Pipeline) -> None:
    closer = getattr(pipeline, "close", None)
    if callable(closer):
        closer()


def _scheduler(kv: KeyValueStore, app: str) -> Scheduler:
    return Scheduler(kv, prefix=f"{app}/scheduler/")


def run_jobs(ctx: AppContext[Any], jobs: dict[str, ScheduledJob], stop: threading.Event) -> None:
    """One scheduler on the app's kv store running ``jobs`` until ``stop``."""
    with ctx.connect("kv") as store:
        scheduler = _scheduler(store, ctx.name)
        for name, job in jobs.items():
            options: dict[str, Any] = {"missed": job.missed, "lease_ttl": job.lease_ttl}
            if job.every is not None:
                scheduler.every(f"{ctx.name}.{name}", job.every, job.run, **options)
            else:
                assert job.cron is not None
                scheduler.cron(f"{ctx.name}.{name}", job.cron, job.run, **options)
        try:
            scheduler.run_forever(stop)
        finally:
            _close_jobs(jobs)


def job_state(kv: KeyValueStore, app: str, name: str) -> JobState:
    """What the scheduler keeps of ``app``'s job ``name`` in ``kv`` (the app's ``kv`` backend,
    where :func:`run_jobs` runs it): when it last ran, its result or error, its next run and
    counts; the defaults (``last_run_at`` ``None``) when it never ran."""
    return _scheduler(kv, app).state(f"{app}.{name}")


def _close_jobs(jobs: dict[str, ScheduledJob]) -> None:
    for job in jobs.values():
        if job.close is not None:
            job.close()


def build_job(ctx: AppContext[Any], name: str) -> ScheduledJob:
    """Build the app's scheduled job ``name`` from its factory."""
    job = ctx.app.load_named("jobs", name)(ctx)
    if not isinstance(job, ScheduledJob):
        raise ConfigError(f"app '{ctx.name}' job {name!r} did not build a ScheduledJob")
    return job


class Background:
    """The background parts of ``apps`` (``only``: just these ``app`` / ``app.part`` names)."""

    def __init__(
        self,
        apps: list[AppSpec],
        settings: Settings,
        *,
        demo: bool = False,
        only: list[str] | None = None,
    ) -> None:
        self.parts: list[Part] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        for app in apps:
            ctx = AppContext.create(app, settings, demo=demo)
            self.parts += [p for p in app_parts(ctx) if _wanted(p, only)]

    def start(self) -> None:
        """Start every part in a thread of its own."""
        for part in self.parts:
            thread = threading.Thread(
                target=self._supervise, args=(part,), name=f"skybridge-{part.label}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every part to stop; wait up to ``timeout`` seconds in all."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def wait(self) -> None:
        """Block until :meth:`stop` is called (from a signal handler, for example)."""
        while not self._stop.wait(0.5):
            pass

    def status(self) -> list[dict[str, Any]]:
        return [part.status() for part in self.parts]

    def _supervise(self, part: Part) -> None:
        pause = FIRST_PAUSE
        while not self._stop.is_set():
            part.state, part.since = "running", time.time()
            try:
                part.start(self._stop)
            except ConfigError as exc:
                part.state, part.error = "not-configured", scrub(str(exc))
                log.info("background.not_configured", part=part.label, reason=part.error)
                pause = LAST_PAUSE
            except Exception as exc:
                part.state, part.error = "restarting", scrub(f"{type(exc).__name__}: {exc}")
                log.warning("background.failed", part=part.label, error=part.error, exc_info=exc)
            else:
                if self._stop.is_set():
                    break
                part.state, part.error = "restarting", "stopped by itself"
            part.restarts += 1
            if self._stop.wait(pause):
                break
            pause = min(LAST_PAUSE, pause * 2)
        part.state = "stopped"


def _wanted(part: Part, only: list[str] | None) -> bool:
    return only is None or part.app in only or part.label in only


def app_parts(ctx: AppContext[Any]) -> list[Part]:
    """The background parts of one app: pipelines, services, its jobs, and in demo mode its
    background demo seed and demo services."""
    app = ctx.app
    parts: list[Part] = []
    for name in app.pipelines:
        parts.append(Part(app.name, "pipeline", name, _pipeline_starter(ctx, name)))
    for name in app.services:
        parts.append(Part(app.name, "service", name, _service_starter(ctx, "services", name)))
    if app.jobs:
        parts.append(Part(app.name, "jobs", "jobs", _jobs_starter(ctx)))
    if ctx.demo and app.demo is not None and app.demo_background:
        parts.append(Part(app.name, "demo", "seed", _seed_starter(ctx)))
    if ctx.demo:
        for name in app.demo_services:
            starter = _service_starter(ctx, "demo_services", name)
            parts.append(Part(app.name, "demo", name, starter))
    return parts


def build_pipeline(ctx: AppContext[Any], name: str) -> Pipeline:
    """Build the app's pipeline ``name`` from its factory."""
    pipeline = ctx.app.load_named("pipelines", name)(ctx)
    if not isinstance(pipeline, Pipeline):
        raise ConfigError(f"app '{ctx.name}' pipeline {name!r} did not build a Pipeline")
    return pipeline


def _pipeline_starter(ctx: AppContext[Any], name: str) -> Callable[[threading.Event], None]:
    def start(stop: threading.Event) -> None:
        run_pipeline(build_pipeline(ctx, name), stop)

    return start


def _service_starter(
    ctx: AppContext[Any], group: str, name: str
) -> Callable[[threading.Event], None]:
    def start(stop: threading.Event) -> None:
        ctx.app.load_named(group, name)(ctx, stop)

    return start


#: Demo seeds still running (a daemon thread each): see :func:`seeds_running`.
_SEEDS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def seeds_running() -> list[str]:
    """The names of demo seed threads still running. A stop does not wait for them, and one
    caught in native code (loading a model) when the interpreter finalizes can hold the exit
    for seconds or abort it (``terminate called without an active exception``): a process that
    has stopped everything else ends with ``os._exit`` while one runs."""
    return sorted(t.name for t in _SEEDS if t.is_alive())


def _seed_starter(ctx: AppContext[Any]) -> Callable[[threading.Event], None]:
    """The app's demo seed, run once in a thread of its own.

    A stop does not wait for it (loading a model can take longer than the service may take to
    stop); seeds are idempotent, so one stopped halfway is finished by the next start. A seed
    that fails is raised here, so the part is retried after the usual pause.
    """

    def start(stop: threading.Event) -> None:
        done, failed = threading.Event(), []

        def seed() -> None:
            try:
                ctx.app.load("demo")(ctx)
            except Exception as exc:
                failed.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=seed, name=f"skybridge-{ctx.name}.demo-seed", daemon=True)
        _SEEDS.add(thread)
        thread.start()
        while not done.wait(0.2):
            if stop.is_set():
                return
        if failed:
            raise failed[0]
        log.info("background.demo_seeded", app=ctx.name)
        stop.wait()

    return start


def _jobs_starter(ctx: AppContext[Any]) -> Callable[[threading.Event], None]:
    def start(stop: threading.Event) -> None:
        jobs: dict[str, ScheduledJob] = {}
        try:
            for name in ctx.app.jobs:
                jobs[name] = build_job(ctx, name)
        except BaseException:
            _close_jobs(jobs)
            raise
        run_jobs(ctx, jobs, stop)

    return start
