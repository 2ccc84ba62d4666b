"""The seed's enrichment feature, shared by our pipeline and the Quix Streams anchor.

No imports beyond the standard library: both the main venv and ``.venv-anchors`` load it.
"""

from __future__ import annotations

from typing import Any

WINDOW = 300.0  # five minutes of event time


def enrich(state: dict[str, Any] | None, ts: float, metric: float) -> dict[str, Any]:
    """Per user: last event time, events in the last 5 minutes of event time, last metric."""
    recent = [t for t in (state or {}).get("recent", []) if t > ts - WINDOW]
    recent.append(ts)
    return {"last_event_time": ts, "recent": recent, "count_5m": len(recent), "last_metric": metric}
