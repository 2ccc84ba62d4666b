"""The dashboard page ``/ui/recommend``: a user's recent events and current recommendations.

The form posts ``action=show`` (scope ``recommend:read``) with a user id; the page shows that
user's segment and recent events, the recommendations served now (not recorded as an
impression), the served model, click-through and coverage, and the API's request charts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skybridge.apps.kit.web import AppPage, Column, Table, api_charts, page_errors
from skybridge.apps.recommend.events import check_id, time_text
from skybridge.apps.recommend.ranking import recommend
from skybridge.apps.recommend.service import Context, Recommender, shared_recommender
from skybridge.apps.recommend.status import profile_view, status
from skybridge.core.errors import SkybridgeError

PACKAGE = "skybridge.apps.recommend"
TEMPLATE = "recommend.html"
LISTED_USERS = 50

EVENT_COLUMNS = [Column("when"), Column("kind"), Column("item", code=True), Column("title")]
REC_COLUMNS = [
    Column("rank", "#", numeric=True),
    Column("item", code=True),
    Column("title"),
    Column("category"),
    Column("score", numeric=True),
    Column("reason", "Why", css="small"),
]


def _users(engine: Recommender) -> list[str]:
    prefix = engine.profiles.store.prefix
    return [k.removeprefix(prefix) for k in engine.kv.keys(prefix, limit=LISTED_USERS)]


def _user_tables(engine: Recommender, user: str) -> dict[str, Any]:
    view = profile_view(engine, user)
    events = [{**e, "when": time_text(e["ts"])} for e in view["recent"]]
    found = recommend(engine, user, record=False)
    recs = [
        {**r, "rank": n, "score": f"{r['score']:.4f}"}
        for n, r in enumerate(found.to_dict()["items"], 1)
    ]
    return {
        "profile": view,
        "strategy": found.strategy,
        "mmr_lambda": engine.config.mmr_lambda,
        "events": Table(
            EVENT_COLUMNS, events, empty="No events from this user yet.", name="events"
        ),
        "recommendations": Table(
            REC_COLUMNS, recs, empty="Nothing to recommend yet.", name="recommendations"
        ),
    }


def _page(ctx: Context, user: str | None = None, **extra: Any) -> AppPage:
    values: dict[str, Any] = {"user": "", "users": [], "status": None, "error": None, "hint": None}
    values["charts"] = api_charts("recommend")
    values.update(extra)
    with page_errors(values):
        engine = shared_recommender(ctx)
        values["status"] = status(engine)
        values["users"] = _users(engine)
        # After a refused id, no other user's recommendations stand in for the one asked.
        first = values["users"][0] if values["users"] and not values["error"] else None
        chosen = user or first
        if chosen:
            values["user"] = chosen
            values.update(_user_tables(engine, chosen))
    return AppPage(PACKAGE, TEMPLATE, values)


def render_page(ctx: Context, query: Mapping[str, str] | None = None) -> AppPage:
    """GET ``/ui/recommend`` (``?user=``: the user shown; the form's GET)."""
    user = (query or {}).get("user", "").strip()
    return _shown(ctx, user) if user else _page(ctx)


def _shown(ctx: Context, user: str) -> AppPage:
    try:
        check_id(user, "user")
    except SkybridgeError as exc:
        return _page(ctx, error=exc.message, hint=exc.hint)
    return _page(ctx, user)


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/recommend`` with ``action=show`` and ``user`` (as the GET ``?user=``)."""
    if form.get("action") != "show":
        return _page(ctx, error=f"unknown action {form.get('action', '')!r}; use show")
    return _shown(ctx, form.get("user", "").strip())
