"""Secret version rotation stages, moved the way OCI Vault moves them.

A new CURRENT version takes CURRENT and LATEST; the old CURRENT becomes PREVIOUS; the old
PREVIOUS (and any version left without a stage) becomes DEPRECATED. A new PENDING version takes
PENDING and LATEST and leaves CURRENT where it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

CURRENT = "CURRENT"
PENDING = "PENDING"
LATEST = "LATEST"
PREVIOUS = "PREVIOUS"
DEPRECATED = "DEPRECATED"
ORDER = (CURRENT, PENDING, LATEST, PREVIOUS, DEPRECATED)


class Staged(Protocol):
    number: int
    stages: list[str]


def _take(versions: Sequence[Staged], stage: str, *, keep: Staged | None = None) -> None:
    for version in versions:
        if version is not keep and stage in version.stages:
            version.stages.remove(stage)


def _settle(versions: Sequence[Staged]) -> None:
    """Stageless versions are DEPRECATED; DEPRECATED is dropped beside any other stage."""
    for version in versions:
        others = [s for s in version.stages if s != DEPRECATED]
        version.stages = sorted(others, key=ORDER.index) if others else [DEPRECATED]


def _mark_latest(versions: Sequence[Staged]) -> None:
    newest = max(versions, key=lambda v: v.number)
    _take(versions, LATEST, keep=newest)
    if LATEST not in newest.stages:
        newest.stages.append(LATEST)


def make_current(versions: Sequence[Staged], target: Staged) -> None:
    """Make ``target`` CURRENT (a new version or a rollback to an existing one)."""
    old = next((v for v in versions if CURRENT in v.stages), None)
    if old is target:
        return
    if old is not None:
        _take(versions, PREVIOUS)
        old.stages.remove(CURRENT)
        old.stages.append(PREVIOUS)
    target.stages = [s for s in target.stages if s not in (PENDING, DEPRECATED, PREVIOUS)]
    target.stages.insert(0, CURRENT)
    _mark_latest(versions)
    _settle(versions)


def make_pending(versions: Sequence[Staged], target: Staged) -> None:
    """Make the new version ``target`` PENDING; CURRENT stays where it is."""
    _take(versions, PENDING)
    target.stages = [PENDING]
    _mark_latest(versions)
    _settle(versions)
