"""``/api/layers`` on the demo data: reading builds and usage, planning a prune, rollouts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.testing.service import ServiceHarness, service_harness


@pytest.fixture
def service(skybridge_workdir: Path) -> Iterator[ServiceHarness]:
    spec = find_app(discover_apps(), "layers")
    spec.load("demo")(AppContext.create(spec, load_settings([spec]), demo=True))
    with service_harness([spec]) as harness:
        yield harness


def test_builds_usage_and_rollouts_of_the_demo(service: ServiceHarness) -> None:
    get = lambda path: service.client.get(f"/api/layers{path}", headers=service.auth)  # noqa: E731
    builds = get("/builds").json()
    assert [(b["name"], b["packages"], b["passed"]) for b in builds] == [("demo-deps", 2, True)]
    detail = get("/builds/demo-deps").json()
    assert {p["name"] for p in detail["packages"]} == {
        "skybridge-demo-greeting",
        "skybridge-demo-units",
    }
    usage = {r["version"]: r["users"] for r in get("/usage").json()}
    assert usage == {
        1: ["demo-invoices:$LATEST", "demo-invoices:1", "demo-orders:1"],
        2: ["demo-orders:$LATEST", "demo-orders:2"],
    }
    rollouts = get("/rollouts").json()
    assert [(r["function"], r["status"], r["weight"]) for r in rollouts] == [
        ("demo-orders", "rolling", 0.1)
    ]
    assert get("/builds/nothing").status_code == 404


def test_prune_plan_and_rollout_steps(service: ServiceHarness) -> None:
    def post(path, body):
        return service.client.post(f"/api/layers{path}", json=body, headers=service.auth)

    plan = post("/prune", {"layer": "demo-deps", "keep": 1})
    assert plan.status_code == 200
    assert plan.json()["dry_run"] is True
    assert plan.json()["deleted"] == []  # version 1 is in use by both functions
    assert post("/rollouts/advance", {"function": "demo-orders"}).json()["weight"] == 0.5
    back = post("/rollouts/rollback", {"function": "demo-orders", "alias": "live"})
    assert back.json()["status"] == "rolled-back"
    again = post("/rollouts/rollback", {"function": "demo-orders"})
    assert again.status_code == 409
    assert "rolled-back" in again.json()["message"]
    bad = post("/prune", {"layer": "no spaces allowed"})
    assert bad.status_code == 422
    unknown = post("/prune", {"layer": "never-published"})
    assert unknown.status_code == 404
    assert "has no published version" in unknown.json()["message"]
    not_a_boolean = post("/prune", {"layer": "demo-deps", "keep": 1, "dry_run": "no"})
    assert not_a_boolean.status_code == 422  # only true or false decide to delete
    publish = post("/publish", {"layer": "demo-deps"})
    assert publish.status_code == 200
    assert publish.json()["new"] is False
