"""Lists that stay right and small with many series and incidents: the page's incidents of
one series, paged incident and series lists (API and CLI), the page's bounded series list."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect
from typer.testing import CliRunner

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.cli import build_cli
from skybridge.testing.service import service_harness

START = datetime(2025, 1, 1)


@pytest.fixture
def engine(skybridge_workdir: Path) -> Iterator[Engine]:
    from skybridge.apps.anomaly import queries

    spec = find_app(discover_apps(), "anomaly")
    with queries.opened(AppContext.create(spec, load_settings([spec]))) as opened:
        yield opened


def _seed(
    engine: Engine, series: str, points: int = 3, incidents: int = 0, start: datetime = START
) -> None:
    """``points`` five-minute rows of ``series`` (the last flagged) and ``incidents`` open
    incidents of it, an hour apart from ``start``."""
    from skybridge.apps.anomaly.table import INCIDENTS, RAW_EVENTS

    rows = [
        {
            "event_id": f"{series}@{n}",
            "series": series,
            "event_time": start + timedelta(minutes=5 * n),
            "metric_value": float(n),
            "processed_flag": "Y",
            "anomaly_flag": "Y" if n == points - 1 else "N",
            "score": 0.9 if n == points - 1 else 0.1,
        }
        for n in range(points)
    ]
    opened = [
        {
            "incident_id": f"{series}#{n}",
            "series": series,
            "opened_at": start + timedelta(hours=n),
            "last_at": start + timedelta(hours=n),
            "flags": 1,
            "max_score": 0.9,
            "reason": "r",
            "status": "open",
            "notified": "Y",
        }
        for n in range(incidents)
    ]
    with engine.begin() as conn:
        conn.execute(RAW_EVENTS.insert(), rows)
        if opened:
            conn.execute(INCIDENTS.insert(), opened)


def _incident_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-incident="([^"]+)"', html)


def _series_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-series="([^"]+)"', html)


def test_the_page_lists_the_chosen_series_incidents_however_many_others_are_newer(
    engine: Engine,
) -> None:
    _seed(engine, "quiet", incidents=2)
    _seed(engine, "busy", incidents=250, start=START + timedelta(days=30))
    with service_harness() as service:
        csrf = service.login()
        page = service.client.post(
            "/ui/anomaly", data={"csrf": csrf, "action": "show", "series": "quiet"}
        )
        assert page.status_code == 200
        assert sorted(_incident_rows(page.text)) == ["quiet#0", "quiet#1"]
        busy = service.client.post(
            "/ui/anomaly", data={"csrf": csrf, "action": "show", "series": "busy"}
        )
        assert _incident_rows(busy.text)[:2] == ["busy#249", "busy#248"]
        assert len(_incident_rows(busy.text)) == 20
        assert "… and 230 older" in busy.text


def test_incidents_are_paged_with_a_total_and_a_link_to_the_next_page(engine: Engine) -> None:
    _seed(engine, "cpu", incidents=5)
    with service_harness() as service:
        get = service.client.get
        first = get("/api/anomaly/incidents?limit=2", headers=service.auth)
        assert first.status_code == 200, first.text
        assert [i["incident_id"] for i in first.json()] == ["cpu#4", "cpu#3"]
        assert first.headers["X-Total-Count"] == "5"
        assert first.headers["Link"] == '</api/anomaly/incidents?limit=2&offset=2>; rel="next"'
        second = get("/api/anomaly/incidents?limit=2&offset=2", headers=service.auth)
        assert [i["incident_id"] for i in second.json()] == ["cpu#2", "cpu#1"]
        last = get("/api/anomaly/incidents?limit=2&offset=4&status=open", headers=service.auth)
        assert [i["incident_id"] for i in last.json()] == ["cpu#0"]
        assert "Link" not in last.headers
        resolved = get("/api/anomaly/incidents?status=resolved", headers=service.auth)
        assert (resolved.json(), resolved.headers["X-Total-Count"]) == ([], "0")
        default = get("/api/anomaly/incidents", headers=service.auth)
        assert len(default.json()) == 5  # the body is still the bare list
        for query in ("limit=0", "limit=1001", "limit=x", "offset=-1"):
            bad = get(f"/api/anomaly/incidents?{query}", headers=service.auth)
            assert bad.status_code == 422, (query, bad.text)
            assert query.split("=")[0] in bad.json()["message"], bad.text


def test_series_are_paged_by_name_with_a_total_and_a_search(engine: Engine) -> None:
    for name in ("web-1", "web-2", "db-1"):
        _seed(engine, name, incidents=1 if name == "web-2" else 0)
    with service_harness() as service:
        get = service.client.get
        first = get("/api/anomaly/series?limit=2", headers=service.auth)
        assert [s["series"] for s in first.json()] == ["db-1", "web-1"]
        assert first.headers["X-Total-Count"] == "3"
        assert first.headers["Link"] == '</api/anomaly/series?limit=2&offset=2>; rel="next"'
        (second,) = get("/api/anomaly/series?limit=2&offset=2", headers=service.auth).json()
        assert (second["series"], second["points"], second["flags"]) == ("web-2", 3, 1)
        assert second["open_incidents"] == 1
        found = get("/api/anomaly/series?search=WEB", headers=service.auth)
        assert [s["series"] for s in found.json()] == ["web-1", "web-2"]
        assert found.headers["X-Total-Count"] == "2"
        for query in ("limit=0", "limit=1001", "offset=-1", "search=a%00b"):
            bad = get(f"/api/anomaly/series?{query}", headers=service.auth)
            assert bad.status_code == 422, (query, bad.text)
        like = get("/api/anomaly/series?search=%25", headers=service.auth)  # % is no wildcard
        assert like.json() == []


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_cli(), list(args))
    return result.exit_code, result.stdout + result.stderr


def test_alerts_list_says_how_many_it_shows_of_how_many(engine: Engine) -> None:
    _seed(engine, "cpu", incidents=5)
    code, out = _cli("anomaly", "alerts", "list", "--limit", "2")
    assert code == 0, out
    assert "showing 2 of 5" in out
    assert "3 more: --offset 2" in out
    code, out = _cli("anomaly", "alerts", "list", "--limit", "2", "--offset", "4")
    assert "showing 5-5 of 5" in out, out
    assert "more:" not in out
    code, out = _cli("anomaly", "alerts", "list", "--limit", "2", "--json")
    listed = json.loads(out)
    assert [i["incident_id"] for i in listed["incidents"]] == ["cpu#4", "cpu#3"]
    assert (listed["total"], listed["offset"], listed["limit"]) == (5, 0, 2)
    for bad in (["--limit", "0"], ["--limit", "1001"], ["--offset", "-1"]):
        code, out = _cli("anomaly", "alerts", "list", *bad)
        assert code == 2, (bad, out)


def test_the_page_lists_a_bounded_number_of_series_with_a_search(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skybridge.apps.anomaly import page

    monkeypatch.setattr(page, "SHOWN_SERIES", 3)
    for n in range(6):
        _seed(engine, f"web-{n}", start=START + timedelta(days=n))
    _seed(engine, "db-old", incidents=1, start=START - timedelta(days=1))
    with service_harness() as service:
        csrf = service.login()
        html = service.client.get("/ui/anomaly").text
        # open incidents first, then the most recently active
        assert _series_rows(html) == ["db-old", "web-5", "web-4"]
        assert "… and 4 more series" in html
        assert re.search(r'class="stat-label">Series</div><div class="stat-value">7<', html)
        assert re.search(r'class="stat-label">Points</div><div class="stat-value">21<', html)
        found = service.client.post(
            "/ui/anomaly", data={"csrf": csrf, "action": "show", "search": "WEB-1"}
        )
        assert _series_rows(found.text) == ["web-1"]
        assert "more series" not in found.text
        assert 'id="series-detail">web-1 ' in found.text  # the match is shown
        several = service.client.post(
            "/ui/anomaly", data={"csrf": csrf, "action": "show", "search": "Web-"}
        )
        assert _series_rows(several.text) == ["web-5", "web-4", "web-3"]
        assert "… and 3 more series matching" in several.text
        # the Show links keep the search
        assert several.text.count('&amp;search=Web-"') == 2
        none = service.client.post(
            "/ui/anomaly", data={"csrf": csrf, "action": "show", "search": "nosuch"}
        )
        assert "No series name contains" in none.text
        bad = service.client.post(
            "/ui/anomaly", data={"csrf": csrf, "action": "show", "search": "a\u0001b"}
        )
        assert bad.status_code == 200
        assert "is not a usable name" in bad.text
        stale = service.client.post("/ui/anomaly", data={"csrf": "x", "action": "show"})
        assert stale.status_code == 403


def test_a_read_token_may_search_but_not_acknowledge(engine: Engine) -> None:
    _seed(engine, "cpu", incidents=1)
    _seed(engine, "disk", incidents=1)
    with service_harness() as service:
        csrf = service.login(service.new_token("reader", scopes=["read"]))
        found = service.client.post(
            "/ui/anomaly", data={"csrf": csrf, "action": "show", "search": "cp"}
        )
        assert found.status_code == 200
        assert _series_rows(found.text) == ["cpu"]
        assert ">Acknowledge<" not in found.text
        ack = {"csrf": csrf, "action": "acknowledge", "incident": "cpu#0", "search": "cp"}
        assert service.client.post("/ui/anomaly", data=ack).status_code == 403


def test_an_existing_table_gets_the_summary_index(skybridge_workdir: Path) -> None:
    from skybridge.apps.anomaly.table import create_tables

    url = f"sqlite:///{skybridge_workdir / 'old.db'}"
    old = create_engine(url)
    with old.begin() as conn:  # raw_events as made before the summary index
        conn.exec_driver_sql(
            "CREATE TABLE raw_events (event_id VARCHAR(200) PRIMARY KEY, series VARCHAR(200) "
            "NOT NULL, event_time DATETIME NOT NULL, metric_value FLOAT NOT NULL, feature1 FLOAT,"
            " feature2 FLOAT, rolling_mean FLOAT, rolling_std FLOAT, season_position FLOAT,"
            " processed_flag VARCHAR(1) DEFAULT 'N' NOT NULL, anomaly_flag VARCHAR(1) DEFAULT 'N'"
            " NOT NULL, score FLOAT, reason TEXT, detector VARCHAR(40), _sb_source VARCHAR(200),"
            " _sb_offset BIGINT)"
        )
        conn.exec_driver_sql(
            "CREATE INDEX raw_events_series_time ON raw_events (series, event_time)"
        )
    create_tables(old)
    create_tables(old)  # again: nothing to add
    names = {i["name"] for i in inspect(old).get_indexes("raw_events")}
    assert "raw_events_series_summary" in names
    with old.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT series, count(*), min(event_time), max(event_time),"
            " sum(anomaly_flag = 'Y') FROM raw_events GROUP BY series"
        ).all()
    assert "COVERING INDEX raw_events_series_summary" in str(plan)
    old.dispose()


def test_what_the_page_shows_is_a_link(engine: Engine) -> None:
    """A series, a search and an incident's time are GET links (bookmarkable, reloadable);
    the server checks their values."""
    _seed(engine, "quiet", incidents=2)
    _seed(engine, "busy", incidents=3, start=START + timedelta(days=30))
    with service_harness() as service:
        service.login()
        quiet = service.client.get("/ui/anomaly?series=quiet")
        assert quiet.status_code == 200
        assert sorted(_incident_rows(quiet.text)) == ["quiet#0", "quiet#1"]
        assert 'href="/ui/anomaly?series=quiet&amp;incident=quiet%230"' in quiet.text
        around = service.client.get("/ui/anomaly?series=quiet&incident=quiet%230")
        assert "points around incident quiet#0" in around.text
        found = service.client.get("/ui/anomaly?search=BUS")
        assert _series_rows(found.text) == ["busy"]
        assert 'href="/ui/anomaly?series=busy&amp;search=BUS"' not in found.text  # shown
        assert service.client.get("/ui/anomaly?search=a%01b").status_code == 422
        assert service.client.get(f"/ui/anomaly?series={'x' * 501}").status_code == 422
        gone = service.client.get("/ui/anomaly?series=quiet&incident=nosuch")
        assert gone.status_code == 200
        assert "nosuch" in gone.text  # named in the page's error
        assert sorted(_incident_rows(gone.text)) == ["quiet#0", "quiet#1"]  # and the series
