"""DuckDB over the canonical Parquet: the ``costs`` view and the queries every report uses.

Rows quarantined at ingest (``x_problem`` set) are left out. The view applies OCI corrections:
a row whose ``lineItem/referenceNo`` is named by a correction row's ``backreferenceNo`` is
superseded by that correction (which carries the corrected amounts), wherever the two were
delivered. Days are UTC days of ``ChargePeriodStart``.

At most :data:`QUERIES_AT_ONCE` queries run at once in a process (opening and closing a
connection count as one); the others wait. DuckDB runs each query on every core already, so
more at once only adds busy threads: a burst of 40 report requests, each running its queries
at once, put some eighty on a 2-core machine, and the thread holding the GIL, descheduled
among them, held up every other, the service's event loop and ``/healthz`` included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from skybridge.apps.costs.convert import connect
from skybridge.apps.costs.focus import COLUMNS, tag_sql
from skybridge.apps.costs.formats import lit, q
from skybridge.core.errors import DamagedState, ValidationError

METRICS = ("EffectiveCost", "BilledCost")
#: Days a report may span, and the years cost data can have (dates outside are typos).
MAX_DAYS = 5 * 366
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
#: DuckDB queries (connections opened or closed) running at once in this process.
QUERIES_AT_ONCE = 2
_QUERIES = threading.BoundedSemaphore(QUERIES_AT_ONCE)
_DIMENSIONS = {
    "provider": "ProviderName",
    "account": "coalesce(SubAccountId, BillingAccountId)",
    "compartment": "x_CompartmentName",
    "service": "ServiceName",
    "region": "RegionId",
    "resource": "ResourceId",
    "category": "ChargeCategory",
}


def dimension_sql(dimension: str) -> str:
    """The SQL for a dimension name (``service``...) or ``tag:<key>``."""
    if dimension.startswith("tag:") and len(dimension) > 4:
        return tag_sql(dimension[4:])
    if dimension in _DIMENSIONS:
        return _DIMENSIONS[dimension]
    known = ", ".join([*_DIMENSIONS, "tag:<key>"])
    raise ValidationError(f"unknown dimension {dimension!r}", hint=f"use one of {known}")


def metric_sql(metric: str) -> str:
    if metric not in METRICS:
        raise ValidationError(f"unknown metric {metric!r}", hint="use EffectiveCost or BilledCost")
    return q(metric)


@dataclass(frozen=True)
class Period:
    """UTC days ``start`` .. ``end`` inclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationError(f"the period ends ({self.end}) before it starts ({self.start})")
        for day in (self.start, self.end):
            if not EARLIEST <= day <= LATEST:
                raise ValidationError(
                    f"{day} is outside {EARLIEST}..{LATEST}", hint="check the year"
                )
        if self.days > MAX_DAYS:
            raise ValidationError(
                f"the period {self.start}..{self.end} is {self.days} days; at most {MAX_DAYS}"
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def where(self) -> str:
        return (
            f"x_Day BETWEEN DATE {lit(self.start.isoformat())} AND DATE {lit(self.end.isoformat())}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days}


@contextmanager
def reading_parquet() -> Iterator[None]:
    """A Parquet file DuckDB cannot read (truncated, overwritten) is :class:`DamagedState`
    naming it, not a driver error."""
    try:
        yield
    except duckdb.Error as exc:
        text = str(exc).strip().splitlines()[0]
        if ".parquet" not in text:
            raise
        raise DamagedState(
            f"a costs Parquet file cannot be read: {text}",
            hint="ingest the export it came from again (skybridge costs ingest FILE): a "
            "damaged or lost file is converted again",
        ) from None


class CostData:
    """A DuckDB connection with the ``costs`` view over the Parquet ``files`` (the ledger's)."""

    def __init__(self, files: Sequence[Path]) -> None:
        #: The Parquet files the view reads (a file ingested later is not in it).
        self.files = sorted(files)
        with _QUERIES:
            self.con: duckdb.DuckDBPyConnection = connect()
            try:
                with reading_parquet():
                    self._create_views(self.files)
            except BaseException:
                self.con.close()
                raise

    def _create_views(self, files: list[Path]) -> None:
        if files:
            listed = ", ".join(lit(str(f)) for f in files)
            self.con.execute(
                "CREATE VIEW raw_costs AS SELECT * EXCLUDE (x_problem) "
                f"FROM read_parquet([{listed}]) WHERE x_problem = ''"
            )
        else:
            columns = ", ".join(f"{q(c)} {t}" for c, t in COLUMNS.items())
            self.con.execute(f"CREATE TABLE raw_costs ({columns})")
        self.con.execute(
            """CREATE VIEW costs AS
               SELECT *, CAST(ChargePeriodStart AS DATE) AS x_Day FROM raw_costs
               WHERE x_ReferenceNumber IS NULL OR x_ReferenceNumber NOT IN (
                   SELECT x_BackReferenceNumber FROM raw_costs
                   WHERE x_IsCorrection AND x_BackReferenceNumber IS NOT NULL)"""
        )

    def close(self) -> None:
        with _QUERIES:
            self.con.close()

    def __enter__(self) -> CostData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with _QUERIES, reading_parquet():
            return self.con.execute(sql, list(params)).fetchall()

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with _QUERIES, reading_parquet():
            cursor = self.con.execute(sql, list(params))
            names = [d[0] for d in cursor.description or []]
            found = cursor.fetchall()
        return [dict(zip(names, row, strict=True)) for row in found]

    # -- the period ------------------------------------------------------------------------
    def last_day(self) -> date | None:
        (day,) = self.rows("SELECT max(x_Day) FROM costs")[0]
        return day if isinstance(day, date) else None

    def default_period(self, days: int) -> Period:
        """The ``days`` days ending with the last day that has data (today when none)."""
        end = self.last_day() or date.today()
        return Period(end - timedelta(days=days - 1), end)

    # -- queries ---------------------------------------------------------------------------
    def totals(self, period: Period) -> list[dict[str, Any]]:
        """BilledCost, EffectiveCost and rows per provider and currency."""
        return self.records(
            f"""SELECT ProviderName AS provider, BillingCurrency AS currency,
                       sum(BilledCost) AS billed_cost, sum(EffectiveCost) AS effective_cost,
                       count(*) AS rows
                FROM costs WHERE {period.where()}
                GROUP BY ALL ORDER BY effective_cost DESC NULLS LAST, provider"""
        )

    def breakdown(
        self, dimension: str, period: Period, *, metric: str = "EffectiveCost", limit: int = 10
    ) -> list[dict[str, Any]]:
        """Spend per value of ``dimension``, largest first (``limit`` rows)."""
        expr, column = dimension_sql(dimension), metric_sql(metric)
        return self.records(
            f"""SELECT coalesce(CAST({expr} AS VARCHAR), '(none)') AS value, sum({column}) AS cost
                FROM costs WHERE {period.where()}
                GROUP BY ALL ORDER BY cost DESC NULLS LAST, value LIMIT {int(limit)}"""
        )

    def daily(
        self, period: Period, dimension: str | None = None, *, metric: str = "EffectiveCost"
    ) -> dict[str, dict[date, Decimal]]:
        """Daily spend per dimension value (key ``total`` without a dimension); missing days 0."""
        expr = dimension_sql(dimension) if dimension else "'total'"
        found = self.rows(
            f"""SELECT coalesce(CAST({expr} AS VARCHAR), '(none)'), x_Day, sum({metric_sql(metric)})
                FROM costs WHERE {period.where()} GROUP BY ALL"""
        )
        series: dict[str, dict[date, Decimal]] = {}
        for key, day, cost in found:
            series.setdefault(key, {})[day] = Decimal(cost or 0)
        for values in series.values():
            for offset in range(period.days):
                values.setdefault(period.start + timedelta(days=offset), Decimal(0))
        return series
