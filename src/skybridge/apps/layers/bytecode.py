"""Bytecode for the target Python, and the cold-start proxy: how long the layer's top modules
take to import in a fresh interpreter, with and without precompiled bytecode.

Lambda mounts layers read-only under ``/opt``, so a layer without bytecode is compiled again
on every cold start. Precompiling needs an interpreter of the target version (bytecode is
version-specific); it writes ``unchecked-hash`` files, which stay valid whatever timestamps the
zip gives the sources, with tracebacks pointing at ``/opt/python``.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from skybridge.apps.layers.interpreters import Interpreter

COMPILE_TIMEOUT = 900
_TIMER = (
    "import sys,time;sys.path.insert(0,sys.argv[1]);t=time.perf_counter()\n"
    "for m in sys.argv[2:]: __import__(m)\n"
    "print(time.perf_counter()-t)"
)


def precompile(site: Path, interpreter: Interpreter) -> int:
    """Compile every ``.py`` under ``site`` with ``interpreter``; the files that failed."""
    done = subprocess.run(
        [
            interpreter.path,
            "-I",
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(site),
            "-p",
            "/opt/python",
            str(site),
        ],
        capture_output=True,
        text=True,
        timeout=COMPILE_TIMEOUT,
        check=False,
    )
    return sum(1 for line in done.stdout.splitlines() if line.startswith("***"))


@dataclass(frozen=True)
class ColdStart:
    """Median seconds to import ``modules`` from the layer in a fresh interpreter."""

    modules: tuple[str, ...]
    source_only: float
    with_bytecode: float
    runs: int

    @property
    def speedup(self) -> float:
        return self.source_only / self.with_bytecode if self.with_bytecode else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "modules": list(self.modules),
            "source_only_s": round(self.source_only, 4),
            "with_bytecode_s": round(self.with_bytecode, 4),
            "runs": self.runs,
            "speedup": round(self.speedup, 2),
        }


def import_seconds(site: Path, modules: list[str], interpreter: Interpreter, runs: int) -> float:
    """Median wall time of importing ``modules`` from ``site`` (no bytecode is written)."""
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [interpreter.path, "-I", "-S", "-B", "-c", _TIMER, str(site), *modules],
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT,
            check=True,
        )
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def cold_start(
    site: Path, modules: list[str], interpreter: Interpreter, runs: int = 5
) -> ColdStart:
    """Import time of ``modules`` from a copy of ``site`` without, then with, bytecode."""
    with tempfile.TemporaryDirectory(prefix="skybridge-coldstart-") as scratch:
        copy = Path(scratch) / "python"
        shutil.copytree(site, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        source_only = import_seconds(copy, modules, interpreter, runs)
        precompile(copy, interpreter)
        compiled = import_seconds(copy, modules, interpreter, runs)
    return ColdStart(tuple(modules), source_only, compiled, runs)
