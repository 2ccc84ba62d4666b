"""Incidents: flagged rows grouped per series, announced once, acknowledged and resolved.

The alert step (run by the scheduled job, like the original's 2-minute job, and by
``skybridge anomaly run``) reads rows with ``processed_flag = 'N'`` in event-time order. A flag
joins its series' latest incident when that incident is not resolved and its last flag is at
most ``cooldown`` seconds earlier (event time); otherwise it opens a new incident. Rows are
marked processed in the same transaction. Then every incident not yet announced is sent
through ``backends.notify`` (``dedup_key`` = incident id) and marked announced: a level shift
or a burst is one incident and one message, not one per point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from skybridge.apps.anomaly.points import check_name
from skybridge.apps.anomaly.table import INCIDENTS, RAW_EVENTS
from skybridge.backends.notify.base import Notifier
from skybridge.backends.notify.message import Notification, Severity
from skybridge.core.errors import Conflict, NotFound

#: Scores at or above this are critical alerts (a strength of about 15 deviations).
CRITICAL_SCORE = 0.83
BATCH = 5000


@dataclass(frozen=True)
class AlertPass:
    """What one alert step did."""

    rows: int
    flags: int
    opened: int
    notified: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def group_flags(engine: Engine, cooldown: float) -> tuple[int, int, int]:
    """Fold unprocessed rows into incidents; returns (rows, flags, incidents opened)."""
    rows = flags = opened = 0
    while True:
        with engine.begin() as conn:
            batch = conn.execute(
                select(
                    RAW_EVENTS.c.event_id,
                    RAW_EVENTS.c.series,
                    RAW_EVENTS.c.event_time,
                    RAW_EVENTS.c.anomaly_flag,
                    RAW_EVENTS.c.score,
                    RAW_EVENTS.c.reason,
                )
                .where(RAW_EVENTS.c.processed_flag == "N", RAW_EVENTS.c.score.is_not(None))
                .order_by(RAW_EVENTS.c.series, RAW_EVENTS.c.event_time)
                .limit(BATCH)
            ).all()
            if not batch:
                return rows, flags, opened
            for row in batch:
                if row.anomaly_flag == "Y":
                    flags += 1
                    opened += _fold(conn, row, cooldown)
            ids = [row.event_id for row in batch]
            conn.execute(
                update(RAW_EVENTS).where(RAW_EVENTS.c.event_id.in_(ids)).values(processed_flag="Y")
            )
            rows += len(batch)


def _fold(conn: Connection, row: Any, cooldown: float) -> int:
    latest = conn.execute(
        select(INCIDENTS)
        .where(INCIDENTS.c.series == row.series)
        .order_by(INCIDENTS.c.opened_at.desc())
        .limit(1)
    ).first()
    joins = (
        latest is not None
        and latest.status != "resolved"
        and 0.0 <= (row.event_time - latest.last_at).total_seconds() <= cooldown
    )
    if joins:
        assert latest is not None
        conn.execute(
            update(INCIDENTS)
            .where(INCIDENTS.c.incident_id == latest.incident_id)
            .values(
                last_at=row.event_time,
                flags=latest.flags + 1,
                max_score=max(latest.max_score, row.score),
            )
        )
        return 0
    conn.execute(
        INCIDENTS.insert().values(
            incident_id=f"{row.series}@{row.event_time.isoformat()}",
            series=row.series,
            opened_at=row.event_time,
            last_at=row.event_time,
            flags=1,
            max_score=row.score,
            reason=row.reason or "",
            status="open",
            notified="N",
        )
    )
    return 1


def announce(engine: Engine, notifier: Notifier, link: str | None = None) -> int:
    """Send every incident not yet announced; returns how many were sent."""
    with engine.connect() as conn:
        pending = conn.execute(
            select(INCIDENTS).where(INCIDENTS.c.notified == "N").order_by(INCIDENTS.c.opened_at)
        ).all()
    for incident in pending:
        notifier.send(incident_notification(incident))
        with engine.begin() as conn:
            conn.execute(
                update(INCIDENTS)
                .where(INCIDENTS.c.incident_id == incident.incident_id)
                .values(notified="Y")
            )
    return len(pending)


def incident_notification(incident: Any) -> Notification:
    """The message announcing an incident."""
    critical = incident.max_score >= CRITICAL_SCORE
    return Notification(
        title=f"Anomaly in {incident.series}",
        body=incident.reason,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        dedup_key=f"anomaly:{incident.incident_id}",
        fields={
            "series": incident.series,
            "at": incident.opened_at.isoformat(),
            "score": f"{incident.max_score:.3f}",
            "incident": incident.incident_id,
        },
        source="anomaly",
    )


def set_status(engine: Engine, incident_id: str, status: str, by: str | None = None) -> None:
    """Acknowledge or resolve an incident. The API, the CLI and the page all come here, so
    ``by`` is checked here: 1-200 printable characters (empty or ``None``: "someone").

    Raises:
        ValidationError: ``by`` is not a usable name.
        NotFound: no such incident.
        Conflict: it is already resolved (acknowledging) or resolved (resolving).
    """
    by = check_name(by, "by") if by else None
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        current = conn.execute(
            select(INCIDENTS.c.status).where(INCIDENTS.c.incident_id == incident_id)
        ).scalar_one_or_none()
        if current is None:
            raise NotFound(f"no incident called {incident_id!r}")
        if current == "resolved":
            raise Conflict(f"incident {incident_id!r} is already resolved")
        values: dict[str, Any] = {"status": status}
        if status == "acknowledged":
            values |= {"acknowledged_by": by or "someone", "acknowledged_at": now}
        else:
            values |= {"resolved_at": now}
        conn.execute(
            update(INCIDENTS).where(INCIDENTS.c.incident_id == incident_id).values(**values)
        )
