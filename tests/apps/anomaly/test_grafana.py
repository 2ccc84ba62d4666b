"""The Grafana dashboard's SQL runs on the app's PostgreSQL tables (macros expanded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from skybridge.apps.anomaly.table import create_tables

DASHBOARD = Path(__file__).parents[3] / "deploy" / "grafana" / "anomaly.json"


@pytest.mark.postgres
def test_every_dashboard_query_runs_on_postgres(postgres_server) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(postgres_server.url.replace("postgresql://", "postgresql+psycopg://"))
    create_tables(engine)
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [dashboard["templating"]["list"][0]["query"]]
    queries += [t["rawSql"] for p in dashboard["panels"] for t in p["targets"]]
    with engine.connect() as conn:
        for sql in queries:
            sql = sql.replace("$series", "cpu")
            for column in ("event_time", "opened_at"):
                sql = sql.replace(
                    f"$__timeFilter({column})", f"{column} > now() - interval '7 days'"
                )
            conn.execute(text(sql)).all()
    engine.dispose()
