"""The dashboard page ``/ui/anomaly``: every series, one series in detail, its incidents.

The detail shows the series' last points as a chart with flagged points marked, the flagged
points with score and reason, and the incidents with acknowledge / resolve buttons. Forms POST
(with the CSRF field) ``action=show`` (``series``), ``acknowledge`` or ``resolve``
(``incident``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from skybridge.apps.anomaly import incidents, queries
from skybridge.apps.anomaly.chart import values_plot
from skybridge.apps.anomaly.config import AnomalyConfig
from skybridge.apps.anomaly.pipeline import PIPELINE
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.web import AppPage, page_errors, pipeline_charts
from skybridge.core.clock import when
from skybridge.core.errors import SkybridgeError

Context = AppContext[AnomalyConfig]
PACKAGE = "skybridge.apps.anomaly"
TEMPLATE = "anomaly.html"
SHOWN = 1000
ACTIONS = {"show", "acknowledge", "resolve"}


def _chosen(summaries: list[dict[str, Any]], wanted: str | None) -> str | None:
    names = [s["series"] for s in summaries]
    if wanted in names:
        return wanted
    flagged = [s for s in summaries if s["open_incidents"]] or summaries
    return flagged[0]["series"] if flagged else None


def _page(
    ctx: Context, series: str | None = None, around: str | None = None, **extra: Any
) -> AppPage:
    """The page; ``around``: an incident whose time the chart is centred on (else the last
    points)."""
    values: dict[str, Any] = {"series": [], "chosen": None, "chart": None, "flagged": []}
    values |= {"incidents": [], "error": None, "notice": None, "config": ctx.config}
    values["window"] = f"last {SHOWN} points"
    values["charts"] = pipeline_charts(PIPELINE)
    values.update(extra)
    with page_errors(values), queries.opened(ctx) as engine:
        values["series"] = queries.series_summaries(engine)
        at = None
        if around:
            found = queries.incident(engine, around)
            series, at = found["series"], datetime.fromisoformat(found["opened"])
            values["window"] = f"{SHOWN} points around incident {around} ({when(at)})"
        chosen = _chosen(values["series"], series)
        if chosen is not None:
            points = queries.series_points(engine, chosen, SHOWN, around=at)
            values["chosen"] = chosen
            values["chart"] = values_plot(chosen, points)
            values["flagged"] = [p for p in reversed(points) if p["flagged"]][:50]
            every = queries.incident_list(engine)
            values["incidents"] = [i for i in every if i["series"] == chosen][:20]
    return AppPage(PACKAGE, TEMPLATE, values)


def render_page(ctx: Context) -> AppPage:
    """GET ``/ui/anomaly``."""
    return _page(ctx)


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/anomaly``: ``show`` a series, ``acknowledge`` or ``resolve`` an incident."""
    action = form.get("action", "")
    series = form.get("series") or None
    if action not in ACTIONS:
        return _page(
            ctx, series, error=f"unknown action {action!r}; use show, acknowledge or resolve"
        )
    if action == "show":
        return _page(ctx, series, around=form.get("incident") or None)
    incident = form.get("incident", "")
    status = "acknowledged" if action == "acknowledge" else "resolved"
    try:
        with queries.opened(ctx) as engine:
            incidents.set_status(engine, incident, status, form.get("by") or "dashboard")
    except SkybridgeError as exc:
        return _page(ctx, series, error=exc.message, hint=exc.hint)
    return _page(ctx, series, notice=f"Incident {incident} {status}.")
