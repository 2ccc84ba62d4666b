"""Click-through and coverage from the day counters the event pipeline keeps.

Each day's document (``recommend/<collection>/metrics/<YYYY-MM-DD>``) counts served lists,
impressions (items shown), ``rec_click``, ``rec_ignore`` and ``purchase`` events, and how often
each item was shown. Click-through is clicks / impressions; coverage is the share of the current
model's items shown at least once in the window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from skybridge.apps.recommend.events import UserEvent
from skybridge.apps.recommend.service import Recommender

COUNTED = ("served", "impressions", "rec_click", "rec_ignore", "purchase")


def count_event(doc: Any, event: UserEvent) -> dict[str, Any]:
    """``doc`` (a day's counters, or ``None``) with ``event`` counted."""
    found: dict[str, Any] = {**dict.fromkeys(COUNTED, 0), "items": {}}
    if isinstance(doc, dict):
        found.update(doc)
    if event.kind == "rec_served":
        shown = dict(found["items"])
        for item in event.items:
            shown[item] = shown.get(item, 0) + 1
        found["items"] = shown
        found["served"] += 1
        found["impressions"] += len(event.items)
    else:
        found[event.kind] += 1
    return found


def feedback_metrics(
    engine: Recommender, days: float = 7.0, *, now: float | None = None
) -> dict[str, Any]:
    """Click-through, coverage and the counts behind them over the last ``days``."""
    today = datetime.fromtimestamp(now, UTC) if now else datetime.now(UTC)
    totals = dict.fromkeys(COUNTED, 0)
    shown: set[str] = set()
    for back in range(max(1, int(days + 0.999))):
        day = (today - timedelta(days=back)).date().isoformat()
        doc = engine.metrics.get(f"metrics/{day}")
        if not isinstance(doc, dict):
            continue
        for key in COUNTED:
            totals[key] += int(doc.get(key, 0))
        shown.update(doc.get("items", {}))
    model = engine.versions.current()
    items = model.items if model else 0
    impressions = totals["impressions"]
    return {
        "days": days,
        **totals,
        "click_through": round(totals["rec_click"] / impressions, 6) if impressions else None,
        "items_shown": len(shown),
        "model_items": items,
        "coverage": round(len(shown & _model_ids(engine)) / items, 6) if items else None,
    }


def _model_ids(engine: Recommender) -> set[str]:
    found = engine.model()
    return set(found[1].ids) if found else set()
