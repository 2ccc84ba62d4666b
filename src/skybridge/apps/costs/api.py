"""The costs app's Python API: what the CLI, the routes, the page and the jobs call.

::

    with open_costs(ctx) as costs:
        costs.ingest_paths(["exports/"])  # one path or several, str or Path
        report = costs.report(costs.period(None, None))
        plan = costs.remediation_plan()
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from skybridge.apps.costs import budgets, remediation
from skybridge.apps.costs.analytics import EARLIEST, LATEST, CostData, Period, dimension_sql
from skybridge.apps.costs.anomalies import Anomaly, find_anomalies
from skybridge.apps.costs.config import BudgetSpec, CostsConfig
from skybridge.apps.costs.forecast import Forecast, forecast_month
from skybridge.apps.costs.ingest import CostStore, FileResult
from skybridge.apps.costs.report import summary
from skybridge.apps.costs.tags import Compliance, compliance
from skybridge.apps.kit.context import AppContext
from skybridge.backends import billing, compute
from skybridge.backends.compute import ComputeFleet
from skybridge.core.arguments import PathArg, as_path
from skybridge.core.errors import ConfigError, Conflict, ValidationError

Context = AppContext[CostsConfig]
#: Budgets ``skybridge up --demo`` shows when ``[[costs.budgets]]`` names none.
DEMO_BUDGETS = [
    BudgetSpec(name="all-clouds", amount=4000.0),
    BudgetSpec(name="cc-101", dimension="tag:cost_center", value="CC-101", amount=1600.0),
    BudgetSpec(name="cc-202", dimension="tag:cost_center", value="CC-202", amount=800.0),
]


def export_paths(paths: object) -> list[Path]:
    """``paths`` (one path or several, ``str`` or ``Path``) as ``Path`` objects; a single
    string is one path, never its letters."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    if isinstance(paths, bytes | Mapping) or not isinstance(paths, Iterable):
        raise ValidationError(
            f"paths must be a path or a list of paths (str or Path), got {type(paths).__name__}"
        )
    return [as_path(path, f"paths[{n}]") for n, path in enumerate(paths)]


class Costs:
    """The app on one data folder, with its settings and backends from ``ctx``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.config: CostsConfig = ctx.config
        self.folder = self.config.data or ctx.data_dir / "costs"
        self.store = CostStore(self.folder)
        self._stack = ExitStack()
        self._data: CostData | None = None
        #: The configured budgets; with none, the demo's on demo data (``ctx.demo_data``).
        self.budget_specs = self.config.budgets or (DEMO_BUDGETS if ctx.demo_data else [])

    def close(self) -> None:
        self._drop_data()
        self._stack.close()

    @contextmanager
    def data(self) -> Iterator[CostData]:
        """The ``costs`` view over everything ingested so far. One DuckDB connection serves
        every query until a file is ingested (opening one costs more than most queries)."""
        files, lost = current = self.store.current()
        if self._data is None or self._data.files != files or lost:
            self._drop_data()
            self._data = self.store.data(current)
        yield self._data

    def _drop_data(self) -> None:
        if self._data is not None:
            self._data.close()
            self._data = None

    def period(self, start: date | None, end: date | None, days: int | None = None) -> Period:
        """``start``..``end`` (inclusive); missing ends default to the last ``report_days``
        days that have data."""
        days = days or self.config.report_days
        if start is not None and end is not None:
            return Period(start, end)
        with self.data() as data:
            last = end or data.last_day() or date.today()
        return Period(
            start or last - timedelta(days=days - 1), last if start is None else max(last, start)
        )

    # -- ingest ----------------------------------------------------------------------------
    def ingest_paths(self, paths: PathArg | Iterable[PathArg]) -> Iterator[FileResult]:
        """Ingest export files, and every export below folders, as they are iterated.

        ``paths`` is one path or several, each a ``str`` or a ``Path``: they are checked now
        (``ValidationError`` naming the bad one); the files, all of them before any is
        ingested, when the results are iterated (see :meth:`.CostStore.ingest_paths`).
        """
        return self.store.ingest_paths(export_paths(paths))

    def ingest_bucket(self, prefix: str | None = None) -> Iterator[FileResult]:
        """Every export under ``prefix`` (default ``report_prefix``) of ``backends.objects``."""
        objects = self._stack.enter_context(self.ctx.connect("objects"))
        return self.store.ingest_objects(
            objects, self.config.report_prefix if prefix is None else prefix
        )

    def ingest_api(self, name: str, start: date, end: date) -> list[FileResult]:
        """Pull ``[start, end)`` from the cost API ``sources[name]`` grouped by service and the
        allocation tag."""
        url = self.config.sources.get(name)
        if url is None:
            known = ", ".join(sorted(self.config.sources)) or "none configured"
            raise ValidationError(
                f"no cost API source {name!r}", hint=f"sources in [costs.sources]: {known}"
            )
        with billing.connect(url, setting=f"costs.sources.{name}") as source:
            lines = source.daily_costs(start, end, tag_key=self.config.allocation_tag)
            return self.store.ingest_lines(f"{source.describe()}", source.provider, lines)

    # -- analysis --------------------------------------------------------------------------
    def report(self, period: Period) -> dict[str, Any]:
        with self.data() as data:
            return summary(data, period, self.config.allocation_tag)

    def tags(self, period: Period) -> Compliance:
        with self.data() as data:
            return compliance(data, self.config.tags, period)

    def as_of(self, day: date | None) -> date:
        """``day``, or the last day with data (today when there is none).

        Raises:
            ValidationError: ``day`` leaves no room for the weeks of history a forecast reads.
        """
        if day is None:
            with self.data() as data:
                return data.last_day() or date.today()
        first = EARLIEST + timedelta(days=budgets.HISTORY_DAYS - 1)
        if not first <= day <= LATEST:
            raise ValidationError(
                f"as of {day}: give a day from {first} to {LATEST}",
                hint=f"forecasts read the {budgets.HISTORY_DAYS} days before it",
            )
        return day

    def budgets(
        self, as_of: date | None = None, *, alert: bool = False
    ) -> tuple[list[budgets.BudgetStatus], list[dict[str, Any]]]:
        """Every budget at ``as_of``; with ``alert``, announce new incidents through notify."""
        day = self.as_of(as_of)
        with self.data() as data:
            statuses = budgets.evaluate(data, self.budget_specs, day)
        sent: list[dict[str, Any]] = []
        if alert and any(s.crossed for s in statuses):
            with self.ctx.connect("notify") as notifier:
                sent = budgets.send_alerts(statuses, notifier, self.store.ledger)
        return statuses, sent

    def forecast(
        self, as_of: date | None = None, dimension: str | None = None, value: str | None = None
    ) -> Forecast:
        """The month-end forecast of all spend, or of one dimension value."""
        if (dimension is None) != (value is None):
            raise ValidationError("give both a dimension and a value, or neither")
        if dimension is not None:
            dimension_sql(dimension)  # names the dimensions there are when this is none
        spec = BudgetSpec(name="forecast", dimension=dimension or "total", value=value, amount=1)
        day = self.as_of(as_of)
        with self.data() as data:
            return forecast_month(budgets.budget_series(data, spec, day), day)

    def anomalies(self, period: Period, dimension: str | None = None) -> list[Anomaly]:
        with self.data() as data:
            return find_anomalies(
                data,
                period,
                dimension or self.config.anomaly_dimension,
                threshold=self.config.anomaly_threshold,
                min_impact=self.config.anomaly_min_impact,
            )

    # -- remediation -----------------------------------------------------------------------
    def fleets(self) -> dict[str, ComputeFleet]:
        """The fleets of ``[costs.fleets]``, else ``backends.compute`` as ``default``."""
        if not self.config.fleets:
            fleet = self.ctx.connect("compute")
            assert isinstance(fleet, ComputeFleet)
            return {"default": self._stack.enter_context(fleet)}
        return {
            name: self._stack.enter_context(compute.connect(url, setting=f"costs.fleets.{name}"))
            for name, url in self.config.fleets.items()
        }

    def remediation_plan(self, now: datetime | None = None) -> remediation.Plan:
        return remediation.plan(self.fleets(), self.config.remediation, self.config.tags, now)

    def remediate(
        self,
        *,
        approve: bool,
        now: datetime | None = None,
        actor: str | None = None,
        agreed: str | None = None,
    ) -> tuple[remediation.Plan, list[remediation.Outcome]]:
        """Plan, then apply when ``approve`` (audited), else a dry run that changes nothing.

        Raises:
            Conflict: ``agreed`` (the :meth:`~remediation.Plan.digest` of a plan shown to
                someone) differs from the plan made now; nothing was applied.
        """
        fleets = self.fleets()
        plan = remediation.plan(
            fleets, self.config.remediation, self.config.tags, now or datetime.now(UTC)
        )
        if agreed is not None and plan.digest() != agreed:
            raise Conflict(
                "The remediation plan changed after it was shown; nothing was applied.",
                hint="look at the plan again (Plan) and apply it if it is right",
            )
        return plan, remediation.apply(
            plan,
            fleets,
            self.store.ledger,
            approve=approve,
            actor=actor or self.config.actor,
            wait=remediation.StopWait(timeout=self.config.remediation.stop_timeout),
        )


@contextmanager
def open_costs(ctx: Context) -> Iterator[Costs]:
    """The app's API on ``ctx``; closes the backends it opened."""
    if not isinstance(ctx.config, CostsConfig):
        raise ConfigError("the costs app needs its [costs] section")
    costs = Costs(ctx)
    try:
        yield costs
    finally:
        costs.close()
