"""Reading a requirements or lock file: its content for the cache key, and whether it is pinned.

A build is cached only when its inputs say exactly what to install: every requirement pinned
with ``==`` (a pip-compile or ``uv export`` lock file, with or without ``--hash``). An unpinned
file resolves differently as new releases appear, so it is built afresh every time instead of
being served from a cache that would silently hide a change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from skybridge.core.errors import ValidationError

_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)\s*=?\s*(\S+)")
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*===?\s*[^\s;,*]+\s*(;.*)?$")
MAX_INCLUDES = 20


@dataclass(frozen=True)
class Requirements:
    """A requirements file as pip will read it."""

    path: Path
    lines: tuple[str, ...]
    unpinned: tuple[str, ...]

    @property
    def pinned(self) -> bool:
        """Every requirement is ``name==version``."""
        return not self.unpinned

    def fingerprint(self) -> str:
        """The requirements, one per line, without comments, blanks and line order."""
        return "\n".join(sorted(self.lines))


def read_requirements(path: Path) -> Requirements:
    """Read ``path`` and the files it includes (``-r``/``-c``).

    Raises:
        ValidationError: the file is missing, empty, or includes a missing file.
    """
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ValidationError(
            f"requirements file {path} {what}", hint="give a requirements.txt or lock file"
        )
    lines: list[str] = []
    _collect(path, lines, depth=0)
    requirements = [line for line in lines if not line.startswith("-")]
    if not requirements:
        raise ValidationError(f"{path} names no requirement", hint="list packages, one per line")
    unpinned = tuple(line for line in requirements if not _PINNED.match(_without_hashes(line)))
    return Requirements(path, tuple(lines), unpinned)


def _collect(path: Path, lines: list[str], *, depth: int) -> None:
    if depth > MAX_INCLUDES:
        raise ValidationError(f"{path}: requirements files include each other too deeply")
    text = path.read_text(encoding="utf-8")
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        include = _INCLUDE.match(line)
        if include is not None:
            nested = (path.parent / include.group(2)).resolve()
            if not nested.is_file():
                raise ValidationError(f"{path} includes {include.group(2)}, which does not exist")
            _collect(nested, lines, depth=depth + 1)
            continue
        lines.append(" ".join(line.split()))


def _without_hashes(line: str) -> str:
    return re.sub(r"\s--hash[= ]\S+", "", line).strip()
