"""The HTTP routes: ingest, series and points, incidents acknowledged and resolved, errors."""

from __future__ import annotations

from pathlib import Path

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.testing.service import ServiceHarness, service_harness

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


def test_detect_scores_a_posted_series(skybridge_workdir: Path) -> None:
    times, values = shifted_series(count=1500)
    with service_harness() as service:
        body = {"times": [t.isoformat() for t in times], "values": values}
        response = service.client.post("/api/anomaly/detect", json=body, headers=service.auth)
        assert response.status_code == 200
        result = response.json()
        assert 1400 in result["flagged"]
        assert result["reasons"]["1400"]
