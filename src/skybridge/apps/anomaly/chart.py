"""A line chart of a series as SVG coordinates, flagged points marked (no script, no styles)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WIDTH, HEIGHT, PAD = 800.0, 180.0, 8.0


@dataclass(frozen=True)
class LineChart:
    """What the template draws: the polyline, the flag markers, the axis labels."""

    line: str
    flags: list[dict[str, Any]] = field(default_factory=list)
    low: float = 0.0
    high: float = 0.0
    start: str = ""
    end: str = ""
    width: float = WIDTH
    height: float = HEIGHT


def line_chart(points: list[dict[str, Any]]) -> LineChart | None:
    """The chart of ``points`` (``time``, ``value``, ``flagged``, ``reason``); ``None`` if empty."""
    if not points:
        return None
    values = [p["value"] for p in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (WIDTH - 2 * PAD) / max(1, len(points) - 1)

    def xy(i: int, value: float) -> tuple[float, float]:
        x = PAD + i * step
        y = HEIGHT - PAD - (value - low) / span * (HEIGHT - 2 * PAD)
        return round(x, 1), round(y, 1)

    coords = [xy(i, v) for i, v in enumerate(values)]
    flags = [
        {"x": coords[i][0], "y": coords[i][1], "title": f"{p['time']}: {p['reason'] or ''}"}
        for i, p in enumerate(points)
        if p["flagged"]
    ]
    line = " ".join(f"{x},{y}" for x, y in coords)
    return LineChart(line, flags, low, high, points[0]["time"], points[-1]["time"])
