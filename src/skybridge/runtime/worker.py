"""Worker processes: run a pipeline until SIGTERM/SIGINT, or run N processes of one command.

Pipelines given as ``module:attribute`` (the attribute is a :class:`Pipeline` or a
zero-argument factory returning one; the current directory is importable) are loaded here; the
apps' pipelines are declared in their manifests and run by ``skybridge worker run``.

A worker handles SIGTERM and SIGINT by stopping its poll loop: the batch in flight finishes,
its sinks are flushed and offsets committed, the member leaves the group and the process exits
0. :func:`run_processes` starts N processes of a command as members of the same group (the
stream backend's group assignment splits the partitions) and forwards signals to them.
"""

from __future__ import annotations

import importlib
import inspect
import os
import signal
import subprocess
import sys
from types import FrameType

from skybridge.core.errors import NotFound, ValidationError
from skybridge.core.observability import get_logger
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.runner import RunStats

log = get_logger(__name__)


def load_pipeline(spec: str) -> Pipeline:
    """The pipeline ``spec`` (``module:attribute``) names."""
    if ":" not in spec:
        raise ValidationError(
            f"{spec!r} is not module:attribute",
            hint="give module:attribute, or an app's pipeline (see `skybridge worker list`)",
        )
    target = _import_attribute(spec)
    pipeline = target
    if callable(target) and not isinstance(target, Pipeline):
        try:
            inspect.signature(target).bind()
        except TypeError:
            raise ValidationError(
                f"{spec!r} needs arguments; name a Pipeline or a factory that takes none",
                hint="e.g. a module-level `def build() -> Pipeline` without parameters",
            ) from None
        except ValueError:  # no signature to read (a builtin): call it as it is
            pass
        pipeline = target()
    if not isinstance(pipeline, Pipeline):
        raise ValidationError(f"{spec!r} is a {type(pipeline).__name__}, not a Pipeline")
    return pipeline


def _import_attribute(spec: str) -> object:
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise NotFound(f"cannot import pipeline module {module_name!r}: {exc}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise NotFound(f"module {module_name!r} has no attribute {attribute!r}") from None


def run_worker(spec: str | Pipeline, *, idle_exit: float | None = None) -> RunStats:
    """Run one pipeline in this process until a stop signal (or ``idle_exit`` seconds idle)."""
    pipeline = load_pipeline(spec) if isinstance(spec, str) else spec

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stop requested", pipeline=pipeline.name, signal=signal.Signals(signum).name)
        pipeline.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return pipeline.run(idle_exit=idle_exit)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def worker_command(spec: str, *, idle_exit: float | None = None) -> list[str]:
    """The command line of one worker process for the ``module:attribute`` pipeline ``spec``."""
    command = [sys.executable, "-m", "skybridge.runtime.worker", spec]
    if idle_exit is not None:
        command.append(f"--idle-exit={idle_exit}")
    return command


def run_workers(spec: str, workers: int, *, idle_exit: float | None = None) -> int:
    """Run ``workers`` processes of the pipeline ``spec`` (one group): :func:`run_processes`."""
    load_pipeline(spec)  # fail fast here on a bad name, not N times in the children
    return run_processes(worker_command(spec, idle_exit=idle_exit), workers)


def run_processes(command: list[str], workers: int) -> int:
    """Run ``workers`` processes of ``command``; forward SIGTERM/SIGINT; return the worst exit
    code."""
    procs = [subprocess.Popen(command) for _ in range(workers)]  # noqa: S603 (our own argv)

    def forward(signum: int, _frame: FrameType | None) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return max(proc.wait() for proc in procs)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m skybridge.runtime.worker PIPELINE [--idle-exit=SECONDS]")
        return 2
    idle = next((float(a.split("=", 1)[1]) for a in args[1:] if a.startswith("--idle-exit=")), None)
    stats = run_worker(args[0], idle_exit=idle)
    log.info("worker done", records=stats.records, dead_letters=stats.dead_letters)
    return 0


if __name__ == "__main__":
    sys.exit(main())
