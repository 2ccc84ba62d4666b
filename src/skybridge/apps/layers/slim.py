"""Slimming an installed layer without breaking it.

What goes: bytecode for any Python but the target's (``__pycache__`` written by another
interpreter is never read by the runtime), test suites inside packages (``<pkg>/.../tests``,
``conftest.py``, test-only extension modules named ``_*_tests``), documentation and example
folders, type stubs (``*.pyi``), C/Cython sources, headers and static libraries (``*.a``); and,
on request, debug symbols of shared libraries (``strip``). What stays, always: every
``*.dist-info`` folder, because ``importlib.metadata.version()``, entry points and plugin
discovery read it, licence files live there and vulnerability scanners find packages through
it. The ``RECORD`` of each distribution is rewritten to list only the files that remain, so
``importlib.metadata.files()`` stays truthful.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from skybridge.apps.layers.targets import Target

#: Folder names inside a package that hold its test suite, docs or examples.
DROPPED_DIRS = frozenset({"tests", "test", "docs", "doc", "examples"})
#: File suffixes nothing needs at run time: type stubs, C/C++/Cython sources and headers, and
#: static libraries (``.a``: only for compiling against the package, never loaded).
DROPPED_SUFFIXES = (".pyi", ".c", ".h", ".cpp", ".hpp", ".cc", ".pyx", ".pxd", ".pxi", ".a")
#: Test-only extension modules (numpy's ``_core/_multiarray_tests...so``) and pytest set-up.
_TEST_MODULE = re.compile(r"^(_\w+_tests\.[\w.-]+\.(so|pyd)|conftest\.py)$")


@dataclass
class SlimReport:
    """What slimming removed, in bytes by reason, and the ``.so`` files it stripped."""

    removed: dict[str, int] = field(default_factory=dict)
    files: int = 0
    stripped: int = 0
    strip_failures: list[str] = field(default_factory=list)

    def add(self, reason: str, size: int) -> None:
        self.removed[reason] = self.removed.get(reason, 0) + size
        self.files += 1

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "removed_bytes": self.removed,
            "removed_files": self.files,
            "stripped": self.stripped,
            "strip_failures": self.strip_failures,
        }


def slim(
    site: Path, target: Target, *, keep: Iterable[str] = (), strip: bool = False
) -> SlimReport:
    """Slim the layer folder ``site`` in place for ``target``.

    Args:
        keep: Globs (relative to ``site``) of files and folders never removed.
        strip: Strip debug symbols from ``.so`` files (off by default: it has broken
            auditwheel-patched libraries).
    """
    report = SlimReport()
    kept = [pattern for pattern in keep if pattern]
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not path.exists() or _is_kept(path, site, kept):
            continue
        reason = _reason(path.relative_to(site), target)
        if reason is not None:
            _remove(path, reason, report)
    for cache in site.rglob("__pycache__"):
        if cache.is_dir() and not any(cache.iterdir()):
            cache.rmdir()
    if strip:
        _strip_binaries(site, report)
    _rewrite_records(site)
    return report


def _is_kept(path: Path, site: Path, patterns: list[str]) -> bool:
    relative = path.relative_to(site)
    return any(
        relative.match(p) or any(parent.match(p) for parent in relative.parents) for p in patterns
    )


def _reason(relative: Path, target: Target) -> str | None:
    parts = relative.parts
    if any(part.endswith(".dist-info") for part in parts):
        return None
    name = relative.name
    if relative.suffix in (".pyc", ".pyo"):
        return None if f".{target.cache_tag}." in name else "bytecode for another Python"
    if (
        len(parts) >= 2
        and _in_package(parts)
        and (name in DROPPED_DIRS or _TEST_MODULE.match(name))
    ):
        return "tests, docs and examples"
    if relative.suffix in DROPPED_SUFFIXES:
        return "sources, headers and stubs"
    return None


def _in_package(parts: tuple[str, ...]) -> bool:
    return not parts[0].endswith((".data", ".libs")) and parts[0] != "bin"


def _remove(path: Path, reason: str, report: SlimReport) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in sorted(path.rglob("*"), reverse=True):
            if child.is_file():
                report.add(reason, child.stat().st_size)
        shutil.rmtree(path)
    else:
        report.add(reason, path.stat().st_size)
        path.unlink()


def _strip_binaries(site: Path, report: SlimReport) -> None:
    strip = shutil.which("strip")
    if strip is None:
        report.strip_failures.append("strip is not installed (binutils)")
        return
    for lib in sorted(site.rglob("*.so*")):
        if not lib.is_file() or any(p.endswith(".libs") for p in lib.relative_to(site).parts):
            continue  # vendored auditwheel libraries: stripping them breaks their ELF layout
        before = lib.stat().st_size
        done = subprocess.run([strip, "--strip-debug", str(lib)], capture_output=True, check=False)
        if done.returncode != 0:
            report.strip_failures.append(str(lib.relative_to(site)))
            continue
        report.stripped += 1
        report.removed["debug symbols"] = (
            report.removed.get("debug symbols", 0) + before - lib.stat().st_size
        )


def _rewrite_records(site: Path) -> None:
    for record in site.glob("*.dist-info/RECORD"):
        rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
        alive = [r for r in rows if r and ((site / r[0]).exists() or r[0].endswith("/RECORD"))]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(alive)
        record.write_text(buffer.getvalue(), encoding="utf-8")
