"""The import smoke test: the built layer, alone, in a clean interpreter of the target Python.

The interpreter runs isolated (``-I -S``: no user or site packages, no ``PYTHON*`` variables)
with only the layer's ``python/`` folder added to ``sys.path``, as the runtime would. For every
distribution it checks ``importlib.metadata.version()`` (the dist-info is intact and names the
installed version), imports each top-level module and loads each entry point. A distribution
with compiled code built for another machine than this one is not imported (it cannot load
here) and is reported as not run, never as passed.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skybridge.apps.layers.interpreters import Interpreter
from skybridge.apps.layers.inventory import Package
from skybridge.apps.layers.targets import Target

SMOKE_TIMEOUT = 600
_SCRIPT = r"""
import importlib, importlib.metadata as md, json, sys
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["site"])
out = []
for pkg in spec["packages"]:
    row = {"name": pkg["name"], "modules": {}, "entry_points": {}, "skipped": pkg["skip"]}
    try:
        row["found_version"] = md.version(pkg["name"])
    except Exception as exc:
        row["found_version"] = None
        row["metadata_error"] = f"{type(exc).__name__}: {exc}"
    if not pkg["skip"]:
        for module in pkg["top_level"]:
            try:
                importlib.import_module(module)
                row["modules"][module] = "ok"
            except BaseException as exc:
                row["modules"][module] = f"{type(exc).__name__}: {exc}"[:300]
        for ep in md.distribution(pkg["name"]).entry_points:
            try:
                ep.load()
                row["entry_points"][f"{ep.group}:{ep.name}"] = "ok"
            except BaseException as exc:
                row["entry_points"][f"{ep.group}:{ep.name}"] = f"{type(exc).__name__}: {exc}"[:300]
    out.append(row)
print(json.dumps(out))
"""


@dataclass
class SmokeResult:
    """What the smoke test found; ``ran`` is False when no fitting interpreter exists here."""

    ran: bool
    reason: str = ""
    interpreter: str | None = None
    packages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """One line per broken version lookup, import or entry point."""
        found = []
        for row in self.packages:
            if row["found_version"] != row["expected_version"]:
                found.append(
                    f"{row['name']}: importlib.metadata.version() gave "
                    f"{row['found_version']!r}, expected {row['expected_version']}"
                )
            for kind in ("modules", "entry_points"):
                found += [f"{row['name']}: {k}: {v}" for k, v in row[kind].items() if v != "ok"]
        return found

    @property
    def skipped(self) -> list[str]:
        return [f"{row['name']}: {row['skipped']}" for row in self.packages if row["skipped"]]

    @property
    def passed(self) -> bool | None:
        """True: everything checked works; False: something broke; None: not run."""
        return None if not self.ran else not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "reason": self.reason,
            "interpreter": self.interpreter,
            "passed": self.passed,
            "failures": self.failures,
            "skipped": self.skipped,
            "packages": self.packages,
        }


def smoke_test(
    site: Path, packages: list[Package], target: Target, interpreter: Interpreter | None
) -> SmokeResult:
    """Run the smoke test of the layer folder ``site``."""
    if interpreter is None:
        return SmokeResult(
            False,
            f"no Python {target.python_version} interpreter here "
            "(name one in [layers] interpreters)",
        )
    spec = {"site": str(site), "packages": [_spec(p, target, interpreter) for p in packages]}
    done = subprocess.run(
        [interpreter.path, "-I", "-S", "-B", "-c", _SCRIPT, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return SmokeResult(
            True,
            f"the smoke test crashed: {tail[0]}",
            interpreter.path,
            [_crashed(p) for p in packages],
        )
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    for row, package in zip(rows, packages, strict=True):
        row["expected_version"] = package.version
    return SmokeResult(True, "", interpreter.path, rows)


def _spec(package: Package, target: Target, interpreter: Interpreter) -> dict[str, Any]:
    skip = ""
    if package.binary and interpreter.machine != target.machine:
        skip = f"compiled for {target.machine}; this machine runs {interpreter.machine}"
    return {"name": package.name, "top_level": list(package.top_level), "skip": skip}


def _crashed(package: Package) -> dict[str, Any]:
    return {
        "name": package.name,
        "found_version": None,
        "expected_version": package.version,
        "modules": {"(interpreter)": "crashed"},
        "entry_points": {},
        "skipped": "",
    }
