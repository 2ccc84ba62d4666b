"""The dashboard page ``/ui/anomaly``: the series, one series in detail, its incidents.

The counters count every series; the list holds the :data:`SHOWN_SERIES` with the most open
incidents, then the most recently active, with a note of how many more there are and a
search box (names containing the text). The detail shows the series' last points as a chart
with flagged points marked, the flagged points with score and reason, and its newest
incidents with acknowledge / resolve buttons. What is shown is a link (``?series=``,
``?search=``, ``?incident=``); forms POST (with the CSRF field) ``acknowledge`` or ``resolve``
(``incident``), and ``show`` as the same links do.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from skybridge.apps.anomaly import incidents, queries
from skybridge.apps.anomaly.chart import values_plot
from skybridge.apps.anomaly.config import AnomalyConfig
from skybridge.apps.anomaly.pipeline import PIPELINE
from skybridge.apps.anomaly.points import check_name
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.web import AppPage, page_actor, page_errors, pipeline_charts
from skybridge.core.clock import when
from skybridge.core.errors import SkybridgeError

Context = AppContext[AnomalyConfig]
PACKAGE = "skybridge.apps.anomaly"
TEMPLATE = "anomaly.html"
SHOWN = 1000
#: Series listed: those with the most open incidents, then the most recently active.
SHOWN_SERIES = 50
#: Incidents of the chosen series listed, newest first.
SHOWN_INCIDENTS = 20
ACTIONS = {"show", "acknowledge", "resolve"}


def _listed(summaries: list[dict[str, Any]], search: str | None) -> list[dict[str, Any]]:
    """The series whose name contains ``search`` (any case): most open incidents first, then
    the most recently active, then by name."""
    wanted = (search or "").lower()
    found = [s for s in summaries if wanted in s["series"].lower()]
    found.sort(key=lambda s: s["last"] or "", reverse=True)  # summaries come by name
    found.sort(key=lambda s: s["open_incidents"], reverse=True)
    return found


def _chosen(summaries: list[dict[str, Any]], wanted: str | None) -> str | None:
    if wanted is not None and any(s["series"] == wanted for s in summaries):
        return wanted
    flagged = [s for s in summaries if s["open_incidents"]] or summaries
    return flagged[0]["series"] if flagged else None


def _totals(summaries: list[dict[str, Any]]) -> dict[str, int]:
    """The counters: every series, not only those listed."""
    return {
        "series": len(summaries),
        **{key: sum(s[key] for s in summaries) for key in ("points", "flags", "open_incidents")},
    }


def _page(
    ctx: Context,
    series: str | None = None,
    around: str | None = None,
    search: str | None = None,
    **extra: Any,
) -> AppPage:
    """The page; ``around``: an incident whose time the chart is centred on (else the last
    points); ``search``: list only series whose name contains it."""
    values: dict[str, Any] = {"series": [], "chosen": None, "chart": None, "flagged": []}
    values |= {"incidents": [], "error": None, "notice": None, "config": ctx.config}
    values |= {"search": search or "", "more_series": 0, "more_incidents": 0}
    values["totals"] = _totals([])
    values["window"] = f"last {SHOWN} points"
    values["charts"] = pipeline_charts(PIPELINE)
    values.update(extra)
    with page_errors(values), queries.opened(ctx) as engine:
        every = queries.series_summaries(engine)
        listed = _listed(every, search)
        values["totals"] = _totals(every)
        values["series"] = listed[:SHOWN_SERIES]
        values["more_series"] = len(listed) - len(values["series"])
        at = None
        if around:
            try:
                found = queries.incident(engine, around)
            except SkybridgeError as exc:  # gone since the link was made: the series still
                values["error"], values["hint"] = exc.message, exc.hint
            else:
                series, at = found["series"], datetime.fromisoformat(found["opened"])
                values["window"] = f"{SHOWN} points around incident {around} ({when(at)})"
        chosen = _chosen(every if series else listed, series)
        if chosen is not None:
            _detail(engine, values, chosen, at)
    return AppPage(PACKAGE, TEMPLATE, values)


def _detail(engine: Engine, values: dict[str, Any], chosen: str, at: datetime | None) -> None:
    """The chosen series' chart, flagged points and newest incidents (queried by series)."""
    points = queries.series_points(engine, chosen, SHOWN, around=at)
    values["chosen"] = chosen
    values["chart"] = values_plot(chosen, points)
    values["flagged"] = [p for p in reversed(points) if p["flagged"]][:50]
    values["incidents"] = queries.incident_list(engine, series=chosen, limit=SHOWN_INCIDENTS)
    total = queries.incident_count(engine, series=chosen)
    values["more_incidents"] = total - len(values["incidents"])


def render_page(ctx: Context, query: Mapping[str, str] | None = None) -> AppPage:
    """GET ``/ui/anomaly`` (``?series=``, ``?search=``, ``?incident=``: the links the page
    shows a series, a search and an incident's time with)."""
    query = query or {}
    series = query.get("series") or None
    try:
        search = _search(query)
    except SkybridgeError as exc:
        return _page(ctx, series, error=exc.message, hint=exc.hint)
    return _page(ctx, series, around=query.get("incident") or None, search=search)


def _search(form: Mapping[str, str]) -> str | None:
    """The form's ``search`` (stripped), or None.

    Raises:
        ValidationError: it is not 1-200 printable characters.
    """
    raw = form.get("search", "").strip()
    return check_name(raw, "search") if raw else None


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/anomaly``: ``show`` a series (or the series matching ``search``),
    ``acknowledge`` or ``resolve`` an incident. Every form carries the ``search`` it was
    posted under, so the list stays filtered."""
    action = form.get("action", "")
    series = form.get("series") or None
    try:
        search = _search(form)
    except SkybridgeError as exc:
        return _page(ctx, series, error=exc.message, hint=exc.hint)
    if action not in ACTIONS:
        error = f"unknown action {action!r}; use show, acknowledge or resolve"
        return _page(ctx, series, search=search, error=error)
    if action == "show":
        return _page(ctx, series, around=form.get("incident") or None, search=search)
    incident = form.get("incident", "")
    status = "acknowledged" if action == "acknowledge" else "resolved"
    try:
        with queries.opened(ctx) as engine:
            incidents.set_status(engine, incident, status, page_actor(form) or "dashboard")
    except SkybridgeError as exc:
        return _page(ctx, series, search=search, error=exc.message, hint=exc.hint)
    return _page(ctx, series, search=search, notice=f"Incident {incident} {status}.")
