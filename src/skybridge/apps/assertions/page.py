"""The dashboard page ``/ui/assertions``: the catalog, "Check now" and what enforces each rule.

Check results are kept in memory per database URL (``last check`` column) for the life of
the service process; a check is only run when someone asks for it, never on page load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from threading import Lock
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from skybridge.apps.assertions import api
from skybridge.apps.assertions.shared import database_errors, open_engine, summary
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.web import AppPage, Table, api_charts
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger

log = get_logger(__name__)
PACKAGE = "skybridge.apps.assertions"
TEMPLATE = "assertions.html"


@dataclass
class LastChecks:
    """The latest check result of each assertion, per database URL."""

    results: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    lock: Lock = field(default_factory=Lock)

    def record(self, url: str, results: list[api.CheckResult]) -> None:
        at = datetime.now(UTC).strftime("%H:%M:%S UTC")
        with self.lock:
            mine = self.results.setdefault(url, {})
            for r in results:
                mine[r.name] = {"ok": r.ok, "count": len(r.rows), "at": at}

    def of(self, url: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return dict(self.results.get(url, {}))


LAST_CHECKS = LastChecks()


def _rows(url: str, data_dir: Path) -> tuple[list[dict[str, Any]], str]:
    with open_engine(url, data_dir=data_dir) as engine, database_errors():
        entries = api.list_assertions(engine)
        dialect = engine.dialect.name
    last = LAST_CHECKS.of(url)
    rows = []
    for entry in entries:
        info = api.explain_entry(entry, dialect)
        rows.append(summary(entry) | {"explain": info, "last": last.get(entry.name)})
    return rows, dialect


def _page(context: AppContext[Any], **extra: Any) -> AppPage:
    url = context.backend_url("sql")
    values: dict[str, Any] = {"assertions": [], "dialect": "", "results": None, "error": None}
    values["charts"] = api_charts("assertions")
    values.update(extra)
    try:
        values["assertions"], values["dialect"] = _rows(url, context.data_dir)
    except (SkybridgeError, SQLAlchemyError) as exc:
        values["error"] = f"cannot read the assertion catalog: {exc}"
    return AppPage(PACKAGE, TEMPLATE, values)


def render_page(context: AppContext[Any]) -> AppPage:
    """GET ``/ui/assertions``."""
    return _page(context)


def handle_action(context: AppContext[Any], form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/assertions`` (``action=check``, optional ``name``): run a full check."""
    if form.get("action", "check") != "check":
        return _page(context, error=f"unknown action {form.get('action')!r}")
    url = context.backend_url("sql")
    name = form.get("name") or None
    try:
        with open_engine(url, data_dir=context.data_dir) as engine, database_errors():
            results = api.check(
                engine,
                name,
                limit=context.config.check_rows,
                timeout=context.config.statement_timeout,
            )
    except SkybridgeError as exc:
        return _page(context, error=str(exc))
    LAST_CHECKS.record(url, results)
    log.info("assertions.checked", assertions=len(results), failed=sum(not r.ok for r in results))
    shown = [
        {"name": r.name, "ok": r.ok, "violations": Table.of(r.rows, code=True, name="violations")}
        for r in results
    ]
    return _page(context, results=shown, checked=name or "all assertions")
