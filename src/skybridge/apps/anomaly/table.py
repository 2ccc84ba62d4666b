"""The SQL tables: ``raw_events`` (the original's columns plus series, score and reason) and
``anomaly_incidents``, created on first use on any ``sql`` backend (SQLite, PostgreSQL).

The original dashboard query keeps working::

    SELECT event_time, metric_value, anomaly_flag FROM raw_events ORDER BY event_time;

``feature1`` is the change from the series' previous value, ``feature2`` the ratio to it
(NULL when the previous value is 0); ``processed_flag`` turns ``Y`` once the alert step has
seen the row; ``anomaly_flag`` is ``Y`` when the score reached the series' threshold.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from skybridge.backends.sql_schema import recorded_version, versioned
from skybridge.core.urls import mask_url

#: The version of the tables below (see :mod:`skybridge.backends.sql_schema`).
SCHEMA_VERSION = 1
METADATA = MetaData()

RAW_EVENTS = Table(
    "raw_events",
    METADATA,
    Column("event_id", String(200), primary_key=True),
    Column("series", String(200), nullable=False),
    Column("event_time", DateTime, nullable=False),
    Column("metric_value", Float, nullable=False),
    Column("feature1", Float),
    Column("feature2", Float),
    Column("rolling_mean", Float),
    Column("rolling_std", Float),
    Column("season_position", Float),
    Column("processed_flag", String(1), nullable=False, server_default="N"),
    Column("anomaly_flag", String(1), nullable=False, server_default="N"),
    Column("score", Float),
    Column("reason", Text),
    Column("detector", String(40)),
    Column("_sb_source", String(200)),
    Column("_sb_offset", BigInteger),
    # Covers the per-series summary (points, flags, first and last time: an index-only scan)
    # as well as a series' points in time order. Tables made before it keep their
    # ``raw_events_series_time`` (series, event_time) too; :func:`create_tables` adds this one.
    Index("raw_events_series_summary", "series", "event_time", "anomaly_flag"),
    Index("raw_events_processed", "processed_flag"),
)

INCIDENTS = Table(
    "anomaly_incidents",
    METADATA,
    Column("incident_id", String(300), primary_key=True),
    Column("series", String(200), nullable=False, index=True),
    Column("opened_at", DateTime, nullable=False),
    Column("last_at", DateTime, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("max_score", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("acknowledged_by", String(200)),
    Column("acknowledged_at", DateTime),
    Column("resolved_at", DateTime),
    Column("notified", String(1), nullable=False, server_default="N"),
)

#: Detector state of the scheduled job, per series (JSON text).
JOB_STATE = Table(
    "anomaly_job_state",
    METADATA,
    Column("series", String(200), primary_key=True),
    Column("state", Text, nullable=False),
)


#: Databases (by URL) whose tables this process made or checked.
_READY: set[str] = set()
_READY_LOCK = threading.Lock()


def create_tables(engine: Engine) -> None:
    """Create the app's tables, and indexes added since a table was made, where missing.

    Every request opens the tables: a database this process already set up is only asked
    for the recorded version (one indexed row), which also finds a database dropped and made
    again, or upgraded by a newer skybridge, since.

    Raises:
        ConfigError: the database holds the app's tables of a newer skybridge.
    """
    key = _identity(engine)
    with _READY_LOCK:
        known = key is not None and key in _READY
    if known and recorded_version(engine, "anomaly") == SCHEMA_VERSION:
        return

    def create(_found: int) -> None:
        METADATA.create_all(engine, checkfirst=True)
        for index in RAW_EVENTS.indexes:
            index.create(engine, checkfirst=True)

    where = f"the anomaly database {mask_url(str(engine.url))}"
    versioned(engine, "anomaly", SCHEMA_VERSION, create, where=where)
    key = _identity(engine)  # a SQLite file made just now has one from here on
    if key is not None:
        with _READY_LOCK:
            _READY.add(key)


def _identity(engine: Engine) -> str | None:
    """The database ``engine`` reaches: its URL, and for a SQLite file the file itself (a
    file removed and made again is another database); ``None`` for one in memory."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return url.render_as_string(hide_password=False)
    if url.database in (None, "", ":memory:"):
        return None
    try:
        found = Path(url.database).resolve().stat()
    except OSError:
        return None
    return f"sqlite:{found.st_dev}:{found.st_ino}"
