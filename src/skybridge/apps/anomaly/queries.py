"""What the CLI, the routes and the page read: series, their points, incidents."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select, true

from skybridge.apps.anomaly.config import AnomalyConfig
from skybridge.apps.anomaly.points import check_name
from skybridge.apps.anomaly.table import INCIDENTS, RAW_EVENTS, create_tables
from skybridge.apps.kit.context import AppContext
from skybridge.core.errors import NotFound, ValidationError, shown

Context = AppContext[AnomalyConfig]
STATUSES = ("open", "acknowledged", "resolved")
#: The most incidents one page of a list holds (API ``?limit=``, ``alerts list --limit``).
MAX_INCIDENTS = 1000


@contextmanager
def opened(ctx: Context) -> Iterator[Engine]:
    """An engine on ``backends.sql`` with the app's tables, disposed afterwards."""
    engine = ctx.sql_engine()
    try:
        create_tables(engine)
        yield engine
    finally:
        engine.dispose()


def _named_like(search: str | None) -> Any:
    """A ``WHERE`` on ``raw_events.series``: names containing ``search`` (any case), or all.

    Raises:
        ValidationError: ``search`` is not 1-200 printable characters.
    """
    if search is None:
        return true()
    wanted = check_name(search, "search").lower()
    return func.lower(RAW_EVENTS.c.series).contains(wanted, autoescape=True)


def series_summaries(
    engine: Engine, limit: int | None = None, offset: int = 0, search: str | None = None
) -> list[dict[str, Any]]:
    """Per series, by name: points, flags, first and last time, open incidents.

    Args:
        limit: At most this many series (all without it); ``offset`` skips the first ones.
        search: Only series whose name contains it (any case).
    """
    query = (
        select(
            RAW_EVENTS.c.series,
            func.count().label("points"),
            func.count().filter(RAW_EVENTS.c.anomaly_flag == "Y").label("flags"),
            func.min(RAW_EVENTS.c.event_time).label("first"),
            func.max(RAW_EVENTS.c.event_time).label("last"),
        )
        .where(_named_like(search))
        .group_by(RAW_EVENTS.c.series)
        .order_by(RAW_EVENTS.c.series)
        .limit(limit)
        .offset(offset or None)
    )
    with engine.connect() as conn:
        rows = list(conn.execute(query))
        counts = _open_incidents(conn)
        return [
            {
                "series": row.series,
                "points": row.points,
                "flags": row.flags or 0,
                "first": row.first.isoformat() if row.first else None,
                "last": row.last.isoformat() if row.last else None,
                "open_incidents": counts.get(row.series, 0),
            }
            for row in rows
        ]


def _open_incidents(conn: Connection) -> dict[str, int]:
    """Open (or acknowledged) incidents per series."""
    query = (
        select(INCIDENTS.c.series, func.count().label("open"))
        .where(INCIDENTS.c.status != "resolved")
        .group_by(INCIDENTS.c.series)
    )
    return {row.series: row.open for row in conn.execute(query)}


def series_count(engine: Engine, search: str | None = None) -> int:
    """How many series have events (whose name contains ``search``, any case)."""
    query = select(func.count(RAW_EVENTS.c.series.distinct())).where(_named_like(search))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def series_points(
    engine: Engine, series: str, limit: int = 500, around: datetime | None = None
) -> list[dict[str, Any]]:
    """The last ``limit`` points of ``series``, oldest first; with ``around``, the ``limit``
    points nearest that time instead (half before it, the rest after)."""
    of_series = select(RAW_EVENTS).where(RAW_EVENTS.c.series == series)
    with engine.connect() as conn:
        rows: list[Any]
        if around is None:
            newest = of_series.order_by(RAW_EVENTS.c.event_time.desc()).limit(limit)
            rows = list(conn.execute(newest))
        else:
            time = RAW_EVENTS.c.event_time
            before = list(
                conn.execute(
                    of_series.where(time <= around).order_by(time.desc()).limit(limit // 2)
                )
            )
            after = conn.execute(
                of_series.where(time > around).order_by(time).limit(limit - len(before))
            )
            rows = list(reversed(list(after))) + before
    if not rows:
        raise NotFound(f"no series called {series!r}")
    return [
        {
            "event_id": r.event_id,
            "time": r.event_time.isoformat(),
            "value": r.metric_value,
            "feature1": r.feature1,
            "feature2": r.feature2,
            "rolling_mean": r.rolling_mean,
            "rolling_std": r.rolling_std,
            "score": r.score,
            "flagged": r.anomaly_flag == "Y",
            "processed": r.processed_flag == "Y",
            "reason": r.reason,
        }
        for r in reversed(rows)
    ]


def _incidents_where(status: str | None, series: str | None) -> Any:
    if status is not None and status not in STATUSES:
        raise ValidationError(f"unknown status {shown(status)}", hint=f"use {', '.join(STATUSES)}")
    return and_(
        INCIDENTS.c.status == status if status is not None else true(),
        INCIDENTS.c.series == series if series is not None else true(),
    )


def incident_list(
    engine: Engine,
    status: str | None = None,
    limit: int = 200,
    offset: int = 0,
    series: str | None = None,
) -> list[dict[str, Any]]:
    """Incidents, newest first: ``limit`` of them after the first ``offset`` (``status``,
    ``series``: only those).

    Raises:
        ValidationError: an unknown status.
    """
    query = (
        select(INCIDENTS)
        .where(_incidents_where(status, series))
        .order_by(INCIDENTS.c.opened_at.desc(), INCIDENTS.c.incident_id.desc())
        .limit(limit)
        .offset(offset or None)
    )
    with engine.connect() as conn:
        return [_incident(row) for row in conn.execute(query)]


def incident_count(engine: Engine, status: str | None = None, series: str | None = None) -> int:
    """How many incidents :func:`incident_list` pages through with the same filters."""
    query = select(func.count()).select_from(INCIDENTS).where(_incidents_where(status, series))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def incident(engine: Engine, incident_id: str) -> dict[str, Any]:
    """One incident.

    Raises:
        NotFound: no incident has this id.
    """
    with engine.connect() as conn:
        row = conn.execute(select(INCIDENTS).where(INCIDENTS.c.incident_id == incident_id)).first()
    if row is None:
        raise NotFound(f"no incident {shown(incident_id)}")
    return _incident(row)


def _incident(row: Any) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "incident_id": row.incident_id,
        "series": row.series,
        "opened": iso(row.opened_at),
        "last": iso(row.last_at),
        "flags": row.flags,
        "max_score": row.max_score,
        "reason": row.reason,
        "status": row.status,
        "acknowledged_by": row.acknowledged_by,
        "acknowledged": iso(row.acknowledged_at),
        "resolved": iso(row.resolved_at),
        "notified": row.notified == "Y",
    }
