"""Finding a Python interpreter for a target runtime, for the smoke test, bytecode and timing.

Looked for in order: ``[layers] interpreters`` (``{"3.12": "/usr/bin/python3.12"}``), this
interpreter, ``python3.X`` on ``PATH``, then pyenv's versions (``$PYENV_ROOT``, ``~/.pyenv``).
Each candidate is run once to confirm its version and machine; a shim that does not run is
passed over.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_PROBE = (
    "import json,platform,sys;print(json.dumps([list(sys.version_info[:2]),platform.machine()]))"
)


@dataclass(frozen=True)
class Interpreter:
    """A Python that ran and said what it is."""

    path: str
    version: str
    machine: str


def find_interpreter(
    version: str, configured: Mapping[str, str] | None = None
) -> Interpreter | None:
    """An interpreter of Python ``version`` (``3.12``), or ``None`` when there is none here."""
    for candidate in _candidates(version, configured or {}):
        found = probe(candidate)
        if found is not None and found.version == version:
            return found
    return None


def _candidates(version: str, configured: Mapping[str, str]) -> list[str]:
    found = [configured[version]] if version in configured else []
    found.append(sys.executable)
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        found += [
            str(p) for p in sorted(Path(root, "versions").glob(f"{version}.*/bin/python{version}"))
        ]
    return found


@cache
def probe(path: str) -> Interpreter | None:
    """What the interpreter at ``path`` is, or ``None`` if it does not run."""
    try:
        done = subprocess.run(
            [path, "-I", "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        (major, minor), machine = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return Interpreter(path, f"{major}.{minor}", str(machine))


def host_machine() -> str:
    """This machine's architecture (``x86_64``, ``aarch64``)."""
    return platform.machine()
