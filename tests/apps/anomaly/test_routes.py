"""The HTTP routes: ingest, series and points, incidents acknowledged and resolved, errors."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.kit.answers import ServiceJSONResponse
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.testing.service import ServiceHarness, on_event_loop, service_harness

from .conftest import shifted_series


def _score_pending() -> None:
    from skybridge.apps.anomaly.runner import run_once

    spec = find_app(discover_apps(), "anomaly")
    run_once(AppContext.create(spec, load_settings([spec])), idle_exit=0.5)


def _ingest(service: ServiceHarness) -> None:
    times, values = shifted_series(count=1500)
    events = [
        {"series": "cpu", "time": t.isoformat(), "metric": v}
        for t, v in zip(times, values, strict=True)
    ]
    response = service.client.post(
        "/api/anomaly/events", json={"events": events}, headers=service.auth
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"produced": 1500}
    _score_pending()


def test_ingest_series_points_and_incident_lifecycle(skybridge_workdir: Path) -> None:
    with service_harness() as service:
        _ingest(service)
        auth = service.auth
        (summary,) = service.client.get("/api/anomaly/series", headers=auth).json()
        assert summary["series"] == "cpu"
        assert summary["points"] == 1500
        assert summary["flags"] >= 2
        points = service.client.get(
            "/api/anomaly/series/cpu/points?limit=1500", headers=auth
        ).json()
        flagged = [p for p in points if p["flagged"]]
        assert all(p["reason"] and p["score"] >= 0.55 for p in flagged)
        assert points[1400]["flagged"]
        incidents = service.client.get("/api/anomaly/incidents", headers=auth).json()
        shift = next(i for i in incidents if i["opened"] == points[1400]["time"])
        path = f"/api/anomaly/incidents/{shift['incident_id']}"
        ack = service.client.post(f"{path}/acknowledge", json={"by": "ada"}, headers=auth)
        assert ack.status_code == 200
        assert ack.json()["status"] == "acknowledged"
        assert service.client.post(f"{path}/resolve", headers=auth).status_code == 200
        again = service.client.post(f"{path}/resolve", headers=auth)
        assert again.status_code == 409
        assert "already resolved" in again.json()["message"]
        listed = service.client.get("/api/anomaly/incidents?status=resolved", headers=auth).json()
        assert [i["acknowledged_by"] for i in listed] == ["ada"]


def test_bad_input_is_a_4xx_naming_the_problem(skybridge_workdir: Path) -> None:
    with service_harness() as service:
        auth = service.auth
        missing = service.client.get("/api/anomaly/series/nope/points", headers=auth)
        assert missing.status_code == 404
        assert "nope" in missing.json()["message"]
        bad_time = {"events": [{"series": "s", "time": "yesterday", "metric": 1}]}
        response = service.client.post("/api/anomaly/events", json=bad_time, headers=auth)
        assert response.status_code == 422
        assert "time" in response.json()["message"]
        detect = {"times": [0, 60], "values": [1.0], "detector": "combined"}
        response = service.client.post("/api/anomaly/detect", json=detect, headers=auth)
        assert response.status_code == 422
        assert "same length" in response.json()["message"]
        status = service.client.get("/api/anomaly/incidents?status=closed", headers=auth)
        assert status.status_code == 422
        assert service.client.get("/api/anomaly/series", headers=auth).json() == []


def test_an_event_may_name_its_metric_value_as_the_pipeline_reads_it(
    skybridge_workdir: Path,
) -> None:
    with service_harness() as service:
        body = {"events": [{"series": "v", "time": "2024-01-01T00:00:00", "value": 5}]}
        response = service.client.post("/api/anomaly/events", json=body, headers=service.auth)
        assert response.status_code == 200, response.text
        _score_pending()
        (point,) = service.client.get("/api/anomaly/series/v/points", headers=service.auth).json()
        assert point["value"] == 5, point


def test_points_are_rendered_off_the_event_loop(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FastAPI renders what a plain-function route returns on the event loop, which /healthz
    # shares: up to 10,000 points each held it for tens of milliseconds.
    with service_harness() as service:
        events = [{"series": "v", "time": f"2024-01-01T00:0{n}:00", "value": n} for n in range(3)]
        response = service.client.post(
            "/api/anomaly/events", json={"events": events}, headers=service.auth
        )
        assert response.status_code == 200, response.text
        _score_pending()
        where: list[bool] = []
        render = ServiceJSONResponse.render

        def recording(self: ServiceJSONResponse, content: Any) -> bytes:
            where.append(on_event_loop())
            return render(self, content)

        monkeypatch.setattr(ServiceJSONResponse, "render", recording)
        points = service.client.get("/api/anomaly/series/v/points", headers=service.auth)
    assert [p["value"] for p in points.json()] == [0, 1, 2]
    assert set(points.json()[0]) == {
        "event_id", "time", "value", "feature1", "feature2", "rolling_mean", "rolling_std",
        "score", "flagged", "processed", "reason",
    }  # fmt: skip
    assert where == [False]


def test_detect_scores_a_posted_series(skybridge_workdir: Path) -> None:
    times, values = shifted_series(count=1500)
    with service_harness() as service:
        body = {"times": [t.isoformat() for t in times], "values": values}
        response = service.client.post("/api/anomaly/detect", json=body, headers=service.auth)
        assert response.status_code == 200
        result = response.json()
        assert 1400 in result["flagged"]
        assert result["reasons"]["1400"]


def test_events_with_an_unusable_series_or_value_are_refused_naming_the_event(
    skybridge_workdir: Path,
) -> None:
    good = {"series": "s", "time": "2024-01-01T00:00:00", "metric": 1}
    with service_harness() as service:
        for change, field in (
            ({"series": "a\u0000b"}, "series"),
            ({"series": "tab\there"}, "series"),
            ({"id": "e\u0001"}, "id"),
            ({"time": "0001-01-01T00:00:00+01:00"}, "time"),
            ({"metric": 1e308}, "metric"),
        ):
            body = {"events": [good, {**good, **change}]}
            response = service.client.post("/api/anomaly/events", json=body, headers=service.auth)
            assert response.status_code == 422, (change, response.text)
            message = response.json()["message"]
            assert "events[1]" in message or "events.1" in message, message
            assert field in message, message
        assert service.client.get("/api/anomaly/series", headers=service.auth).json() == []


def test_detect_refuses_values_out_of_range_and_copes_at_the_limit(
    skybridge_workdir: Path,
) -> None:
    from skybridge.apps.anomaly.detectors import DETECTORS

    with service_harness() as service:
        for detector in ("global-z", "windowed-gaussian"):
            body = {"times": [1, 2, 3, 4], "values": [1e308, -1e308, 1e308, -1e308]}
            response = service.client.post(
                "/api/anomaly/detect", json={**body, "detector": detector}, headers=service.auth
            )
            assert response.status_code == 422, response.text
            assert "values.0" in response.json()["message"]
        for detector in DETECTORS:
            body = {"times": [1, 2, 3, 4], "values": [1e150, -1e150, 1e150, -1e150]}
            response = service.client.post(
                "/api/anomaly/detect", json={**body, "detector": detector}, headers=service.auth
            )
            assert response.status_code == 200, (detector, response.text)
        bad_time = {"times": [1, "yesterday"], "values": [1, 2]}
        response = service.client.post("/api/anomaly/detect", json=bad_time, headers=service.auth)
        assert response.status_code == 422
        assert "times[1]" in response.json()["message"]


def test_the_page_records_the_signed_in_token_and_the_api_checks_who(
    skybridge_workdir: Path,
) -> None:
    """The page recorded "dashboard" for everyone, or any name its form was sent with; it
    records the session's token now, whatever the form says."""
    from skybridge.apps.anomaly import queries
    from skybridge.apps.anomaly.table import INCIDENTS

    spec = find_app(discover_apps(), "anomaly")
    ctx = AppContext.create(spec, load_settings([spec]))
    with queries.opened(ctx) as engine, engine.begin() as conn:
        when = shifted_series(count=1)[0][0]
        conn.execute(
            INCIDENTS.insert().values(
                incident_id="cpu@1", series="cpu", opened_at=when, last_at=when, flags=1,
                max_score=0.9, reason="r", status="open", notified="Y",
            )
        )  # fmt: skip
    with service_harness() as service:
        csrf = service.login()
        for by in ("x" * 50_000, "a\u0000b"):
            api = service.client.post(
                "/api/anomaly/incidents/cpu@1/acknowledge", json={"by": by}, headers=service.auth
            )
            assert api.status_code == 422
        (incident,) = service.client.get("/api/anomaly/incidents", headers=service.auth).json()
        assert (incident["status"], incident["acknowledged_by"]) == ("open", None)
        form = {"csrf": csrf, "action": "acknowledge", "incident": "cpu@1", "by": "mallory"}
        form["skybridge_actor"] = "mallory"
        assert service.client.post("/ui/anomaly", data=form).status_code == 200
        (incident,) = service.client.get("/api/anomaly/incidents", headers=service.auth).json()
        assert incident["status"] == "acknowledged"
        me = service.client.get("/api/whoami", headers=service.auth).json()["name"]
        assert incident["acknowledged_by"] == f"{me} (dashboard)"


def test_an_incident_can_be_shown_on_the_chart_however_old_it_is(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skybridge.apps.anomaly import page

    monkeypatch.setattr(page, "SHOWN", 50)  # the chart's last points hold no incident
    with service_harness() as service:
        _ingest(service)
        csrf = service.login()
        incidents = service.client.get("/api/anomaly/incidents", headers=service.auth).json()
        incident = min(incidents, key=lambda i: i["opened"])
        opened = datetime.fromisoformat(incident["opened"]).replace(tzinfo=UTC).timestamp()
        latest = service.client.post("/ui/anomaly", data={"csrf": csrf, "action": "show"})
        assert opened < min(_plot_x(latest.text))  # not in the last 50 points
        form = {"csrf": csrf, "action": "show", "incident": incident["incident_id"]}
        around = service.client.post("/ui/anomaly", data=form)
        assert f"50 points around incident {incident['incident_id']}" in around.text
        x = _plot_x(around.text)
        assert min(x) <= opened <= max(x)
        assert len(x) == 50
        missing = service.client.post("/ui/anomaly", data={**form, "incident": "nope"})
        assert "no incident &#39;nope&#39;" in missing.text


def _plot_x(page_html: str) -> list[float]:
    found = re.search(r"data-plot='([^']+)'", page_html)
    assert found, page_html[-2000:]
    return list(json.loads(html.unescape(found.group(1)))["x"])
