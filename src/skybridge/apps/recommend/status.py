"""What ``status``, the page and ``GET /api/recommend/status`` report."""

from __future__ import annotations

from typing import Any

from skybridge.apps.recommend.events import stored_time
from skybridge.apps.recommend.metrics import feedback_metrics
from skybridge.apps.recommend.service import Recommender
from skybridge.apps.recommend.users import user_count


def status(engine: Recommender) -> dict[str, Any]:
    """The served model, catalogue and profile counts, and the week's feedback metrics."""
    current = engine.versions.current()
    return {
        "collection": engine.config.collection,
        "topic": engine.config.topic,
        "fold_in": engine.config.fold_in,
        "model": None if current is None else _summary(current.to_dict()),
        "versions": len(engine.versions.list()),
        "catalogue_items": engine.catalogue.count(),
        "users": user_count(engine),
        "metrics": feedback_metrics(engine, engine.config.window_days),
    }


def version_rows(engine: Recommender) -> list[dict[str, Any]]:
    """Every kept model version, newest first, marking the served one."""
    current = engine.versions.current()
    rows = [_summary(v.to_dict()) for v in engine.versions.list()]
    for row in rows:
        row["current"] = current is not None and row["version"] == current.version
    return sorted(rows, key=lambda r: r["version"], reverse=True)


def profile_view(engine: Recommender, user: str) -> dict[str, Any]:
    """A user's segment, counts and recent events (newest first, with item titles)."""
    doc = engine.profiles.get(user)
    if doc is None:
        return {"user": user, "known": False, "segment": "", "events": 0, "items": 0, "recent": []}
    recent = list(reversed(doc["recent"]))
    titles = engine.catalogue.get_many({r[2] for r in recent})
    return {
        "user": user,
        "known": True,
        "segment": doc.get("segment", ""),
        "events": doc["events"],
        "items": len(doc["items"]),
        "hidden": len(doc["hidden"]),
        "model_version": doc.get("version", ""),
        "recent": [
            {
                "ts": stored_time(ts),
                "kind": kind,
                "item": item,
                "title": titles[item].title if item in titles else "",
            }
            for ts, kind, item in recent
        ],
    }


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "popular"}
