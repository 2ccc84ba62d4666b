"""The interpreter that runs Feast, the features anchor, for the point-in-time comparison.

Feast pins ``pandas<3`` and ``prometheus_client<0.25`` (ours resolve to newer releases) and
brings ``uvloop``/``httptools``, which uvicorn would pick up by itself, so it never goes into
the main venv. The tests use ``.venv-anchors`` when ``make bench`` has built it with Feast;
otherwise they build ``.venv-feast`` (a venv with only ``benchmarks/anchors/feast.txt``) on
first use and keep it: 1.5 to 2 minutes on a loaded 2-core machine (once), then nothing. A stamp
holding the requirement file's text makes a changed pin rebuild it.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[3]
REQUIREMENTS = ROOT / "benchmarks" / "anchors" / "feast.txt"
ANCHORS_PYTHON = ROOT / ".venv-anchors" / "bin" / "python"
VENV = ROOT / ".venv-feast"
STAMP = VENV / ".installed-stamp"
#: How long the last build of ``.venv-feast`` took, in seconds (written after a build).
BUILD_SECONDS = VENV / ".build-seconds"


def pinned_version() -> str:
    """The Feast version ``feast.txt`` pins (``feast==X``)."""
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith("feast=="):
            return line.removeprefix("feast==").strip()
    raise AssertionError(f"{REQUIREMENTS} pins no feast==VERSION")


def has_feast(python: Path, version: str) -> bool:
    if not python.exists():
        return False
    probe = [python, "-c", "import feast, sys; sys.exit(feast.__version__ != sys.argv[1])", version]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def feast_python() -> Path:
    """An interpreter with the pinned Feast: ``.venv-anchors``'s, else ``.venv-feast``'s
    (built now if missing or stale; one build at a time across processes).

    Raises:
        RuntimeError: pip could not install Feast (with the end of its output).
    """
    version = pinned_version()
    if has_feast(ANCHORS_PYTHON, version):
        return ANCHORS_PYTHON
    python = VENV / "bin" / "python"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with (ROOT / ".venv-feast.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = REQUIREMENTS.read_text()
        if not (STAMP.exists() and STAMP.read_text() == wanted and python.exists()):
            build(wanted)
    return python


def build(wanted: str) -> None:
    """(Re)create ``.venv-feast`` with ``feast.txt``; record the time it took."""
    started = time.monotonic()
    STAMP.unlink(missing_ok=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [*pip, "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=1200)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-2000:]
            raise RuntimeError(f"building {VENV} failed: {' '.join(step)}\n{tail}")
    BUILD_SECONDS.write_text(f"{time.monotonic() - started:.1f}\n")
    STAMP.write_text(wanted)
