"""The detail chart of one series: its values, the flagged points marked (a kit plot)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from skybridge.apps.kit.web import Line, Plot


def _epoch(iso: str) -> float:
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:  # event times are stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def values_plot(series: str, points: list[dict[str, Any]]) -> Plot | None:
    """The plot of ``points`` (``time``, ``value``, ``flagged``; oldest first), else ``None``."""
    if not points:
        return None
    values = [p["value"] for p in points]
    flags = [p["value"] if p["flagged"] else None for p in points]
    return Plot(
        f"Values of {series}",
        [_epoch(p["time"]) for p in points],
        [Line(series, values), Line("flagged", flags, style="points")],
        name="series-values",
    )
