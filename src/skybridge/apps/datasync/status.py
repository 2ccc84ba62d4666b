"""What the target holds, read from the target itself (so every process sees the same).

Per table: live rows, tombstones, the newest version, the last commit and the latency of the
latest changes (``sb_synced_at - sb_origin_at``: from the change at the source to its commit
here), taken from the most recently synced rows.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import case, func, inspect, select, true
from sqlalchemy.exc import SQLAlchemyError

from skybridge.apps.datasync.changes import DELETED, ORIGIN_AT, SYNCED_AT
from skybridge.apps.datasync.target import SqlTarget
from skybridge.backends.sql import translate_sql_error as translate

#: How many of the latest synced rows the latency figures are taken from.
LATENCY_SAMPLE = 500


@dataclass
class TableStatus:
    table: str
    rows: int
    deleted: int
    max_version: Any
    last_synced_at: float | None
    latency_p50: float | None
    latency_p95: float | None

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["max_version"] = None if self.max_version is None else str(self.max_version)
        return doc


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def table_status(target: SqlTarget, table: str) -> TableStatus:
    """The status of ``table`` (zeros when it was never synced or does not exist yet)."""
    spec, t = target.spec(table), target.schema.targets[table]
    try:
        if not inspect(target.engine).has_table(t.name):
            return TableStatus(table, 0, 0, None, None, None, None)
    except SQLAlchemyError as exc:
        raise translate(exc, f"reading the status of {table}") from None
    totals = select(
        func.count(),
        func.sum(case((t.c[DELETED] == true(), 1), else_=0)),
        func.max(t.c[spec.version]),
        func.max(t.c[SYNCED_AT]),
    )
    latest = (
        select((t.c[SYNCED_AT] - t.c[ORIGIN_AT]).label("lag"))
        .where(t.c[SYNCED_AT].is_not(None), t.c[ORIGIN_AT].is_not(None))
        .order_by(t.c[SYNCED_AT].desc())
        .limit(LATENCY_SAMPLE)
    )
    try:
        with target.engine.connect() as conn:
            count, dead, version, synced = conn.execute(totals).one()
            lags = sorted(max(0.0, float(r)) for r in conn.execute(latest).scalars())
    except SQLAlchemyError as exc:
        raise translate(exc, f"reading the status of {table}") from None
    return TableStatus(
        table,
        int(count) - int(dead or 0),
        int(dead or 0),
        version,
        synced,
        _quantile(lags, 0.5),
        _quantile(lags, 0.95),
    )
