"""``GET /api/metrics/history``: the scope it needs, who may call it, and the answer's shape."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybridge.testing.service import ServiceHarness, csrf_of, service_harness

ROUTE = "/api/metrics/history"


@pytest.fixture
def service(skybridge_workdir: Path) -> Iterator[ServiceHarness]:
    with service_harness(apps=[]) as harness:
        now = time.time()
        history = harness.client.app.state.skybridge.history  # type: ignore[attr-defined]
        for step, t in enumerate((now - 10, now - 5, now)):
            history.append(
                t,
                {
                    "records_per_s:orders": float(step),
                    "http_p95_ms": None if step == 1 else 12.5,
                    "lag:orders/events": 3.0,
                },
            )
        yield harness


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_route_declares_service_read(service: ServiceHarness) -> None:
    operation = service.client.get("/openapi.json").json()["paths"][ROUTE]["get"]
    assert operation["x-required-scope"] == "service:read"


def test_it_answers_series_with_their_times(service: ServiceHarness) -> None:
    response = service.client.get(ROUTE, headers=service.auth)
    assert response.status_code == 200
    body = response.json()
    assert body["interval"] == 5.0
    assert body["window"] == 900
    assert len(body["t"]) == 3
    assert body["t"] == sorted(body["t"])
    by_key = {s["key"]: s for s in body["series"]}
    assert set(by_key) == {"records_per_s:orders", "http_p95_ms", "lag:orders/events"}
    records = by_key["records_per_s:orders"]
    assert records == {
        "key": "records_per_s:orders",
        "metric": "records_per_s",
        "label": "orders",
        "name": "orders",
        "unit": "records/s",
        "values": [0.0, 1.0, 2.0],
    }
    assert by_key["http_p95_ms"]["values"] == [12.5, None, 12.5]
    assert by_key["lag:orders/events"]["name"] == "orders / events"


def test_selectors_and_window_narrow_the_answer(service: ServiceHarness) -> None:
    response = service.client.get(
        ROUTE, params={"series": ["lag:orders", "http_p95_ms"], "window": 60}, headers=service.auth
    )
    body = response.json()
    assert [s["key"] for s in body["series"]] == ["http_p95_ms", "lag:orders/events"]
    nothing = service.client.get(ROUTE, params={"series": "nope"}, headers=service.auth).json()
    assert nothing["series"] == []
    assert len(nothing["t"]) == 3


@pytest.mark.parametrize("params", [{"window": 5}, {"window": 10**9}, {"series": ["x" * 201]}])
def test_bad_queries_are_a_422_that_names_the_field(
    service: ServiceHarness, params: dict[str, object]
) -> None:
    response = service.client.get(ROUTE, params=params, headers=service.auth)
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationError"


def test_it_needs_a_token_or_a_session(service: ServiceHarness) -> None:
    refused = service.client.get(ROUTE)
    assert refused.status_code == 401
    assert "Bearer" in refused.json()["message"]
    assert service.client.get(ROUTE, headers=bearer("sbk_unknown")).status_code == 401
    service.login()
    assert service.client.get(ROUTE).status_code == 200  # the dashboard's charts


def test_it_needs_service_read(service: ServiceHarness) -> None:
    narrow = service.new_token("narrow", scopes=["tokens:manage"])
    assert service.client.get(ROUTE, headers=bearer(narrow)).status_code == 403
    reader = service.new_token("reader", scopes=["read"])
    assert service.client.get(ROUTE, headers=bearer(reader)).status_code == 200
    form = service.client.get("/login")
    service.client.post("/login", data={"token": narrow, "csrf": csrf_of(form.text)})
    assert service.client.get("/tokens").status_code == 200  # signed in
    assert service.client.get(ROUTE).status_code == 403
