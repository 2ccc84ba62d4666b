"""Severity levels, from an OSV record's CVSS vectors (v3 or v4, scored with the ``cvss``
library) or a ``database_specific.severity`` word (GitHub's LOW/MODERATE/HIGH/CRITICAL)."""

from __future__ import annotations

from typing import Any, Literal

from skybridge.core.errors import MissingDependency

try:
    from cvss import CVSS3, CVSS4
except ImportError as exc:  # pragma: no cover - the layers extra installs it
    raise MissingDependency("cvss", "layers", feature="severity of vulnerabilities") from exc

Level = Literal["unknown", "low", "medium", "high", "critical"]
#: Levels from least to most severe, for thresholds; ``unknown`` ranks as configured.
LEVELS: tuple[str, ...] = ("low", "medium", "high", "critical")
_WORDS = {
    "low": "low",
    "moderate": "medium",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}


def level_of_score(score: float) -> Level:
    """CVSS qualitative rating of a base score."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low" if score > 0 else "unknown"


def severity_of(record: dict[str, Any]) -> Level:
    """The highest severity an OSV record states, or ``unknown``."""
    found: list[Level] = []
    for entry in record.get("severity", []) or []:
        score = _score(str(entry.get("type", "")), str(entry.get("score", "")))
        if score is not None:
            found.append(level_of_score(score))
    word = str((record.get("database_specific") or {}).get("severity", "")).lower()
    if word in _WORDS:
        found.append(_WORDS[word])  # type: ignore[arg-type]
    ranked = [f for f in found if f in LEVELS]
    return max(ranked, key=LEVELS.index) if ranked else "unknown"


def _score(kind: str, vector: str) -> float | None:
    try:
        if kind == "CVSS_V3":
            return float(CVSS3(vector).scores()[0])
        if kind == "CVSS_V4":
            return float(CVSS4(vector).base_score)
    except Exception:  # a malformed vector says nothing about severity
        return None
    return None


def rank(level: str, unknown_as: str) -> int:
    """Position of ``level`` in :data:`LEVELS` (``unknown`` ranks as ``unknown_as``)."""
    return LEVELS.index(unknown_as if level == "unknown" else level)
