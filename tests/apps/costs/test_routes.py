"""``/api/costs``: reads on demo data, scopes (remediation needs admin), bad input as JSON 4xx."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.testing.service import ServiceHarness, service_harness

from .test_contract import TestCostsContract

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def service(workdir: Path) -> Iterator[ServiceHarness]:
    spec = find_app(discover_apps(), "costs")
    from skybridge.apps.kit.context import AppContext
    from skybridge.apps.kit.settings import load_settings

    spec.load("demo")(AppContext.create(spec, load_settings([spec]), demo=True))
    with service_harness([spec]) as harness:
        yield harness


def test_report_and_friends_answer_on_demo_data(service: ServiceHarness) -> None:
    report = service.client.get("/api/costs/report", headers=service.auth).json()
    assert {p["provider"] for p in report["providers"]} == {"AWS", "Oracle"}
    assert report["period"]["days"] == 30
    for path in (
        "/tags",
        "/budgets",
        "/forecast",
        "/anomalies",
        "/files",
        "/audit",
        "/remediation/plan",
    ):
        response = service.client.get(f"/api/costs{path}", headers=service.auth)
        assert response.status_code == 200, (path, response.text)
    anomalies = service.client.get("/api/costs/anomalies", headers=service.auth).json()
    assert anomalies[0]["value"] == "Amazon Elastic Compute Cloud"
    files = service.client.get("/api/costs/files", headers=service.auth).json()
    assert files
    assert all(ISO_UTC.match(f["at"]) for f in files), files  # as the plan's times are


def test_remediation_needs_admin_and_a_dry_run_changes_nothing(service: ServiceHarness) -> None:
    operator = {"Authorization": f"Bearer {service.new_token('op', scopes=['operate'])}"}
    refused = service.client.post("/api/costs/remediate", json={"approve": True}, headers=operator)
    assert refused.status_code == 403
    assert "costs:remediate" in refused.json()["message"]
    dry = service.client.post("/api/costs/remediate", headers=service.auth).json()  # no body
    assert dry["dry_run"] is True
    assert dry["outcomes"]
    assert service.client.get("/api/costs/audit", headers=service.auth).json() == []
    for path in ("/api/costs/ingest", "/api/costs/budgets/alert"):  # no body: the defaults
        assert service.client.post(path, headers=service.auth).status_code == 200, path
    done = service.client.post(
        "/api/costs/remediate", json={"approve": True}, headers=service.auth
    ).json()
    assert {o["outcome"] for o in done["outcomes"]} == {"done"}
    audit = service.client.get("/api/costs/audit", headers=service.auth).json()
    assert len(audit) == len(done["outcomes"])
    assert all(ISO_UTC.match(r["at"]) for r in audit), audit


def test_the_pages_apply_plan_asks_first_and_names_what_it_will_change(
    service: ServiceHarness,
) -> None:
    csrf = service.login()
    planned = service.client.get("/api/costs/remediation/plan", headers=service.auth).json()
    stops = sum(1 for a in planned["actions"] if a["action"] == "stop")
    asked = service.client.post("/ui/costs", data={"csrf": csrf, "action": "remediate"})
    assert asked.status_code == 200
    question = re.search(r'<p id="confirm-question"[^>]*>(.*?)</p>', asked.text, re.S)
    assert question, asked.text
    assert f"stop {stops} instance" in question.group(1)
    assert "every action is audited" in question.group(1)
    assert 'name="confirmed" value="yes"' in asked.text
    assert 'name="action" value="remediate"' in asked.text
    assert 'href="/ui/costs">Cancel' in asked.text
    assert service.client.get("/api/costs/audit", headers=service.auth).json() == []  # asked only

    digest = re.search(r'name="plan" value="([0-9a-f]+)"', asked.text)
    assert digest
    form = {"csrf": csrf, "action": "remediate", "confirmed": "yes"}
    other = service.client.post("/ui/costs", data={**form, "plan": "0" * 16})
    assert "The remediation plan changed after it was shown; nothing was applied." in other.text
    assert service.client.get("/api/costs/audit", headers=service.auth).json() == []
    sent = {**form, "plan": digest.group(1), "skybridge_actor": "mallory"}  # not the browser's
    done = service.client.post("/ui/costs", data=sent)
    assert "Remediation applied" in done.text
    audit = service.client.get("/api/costs/audit", headers=service.auth).json()
    assert len(audit) == len(planned["actions"])
    me = service.client.get("/api/whoami", headers=service.auth).json()["name"]
    assert {r["actor"] for r in audit} == {f"{me} (dashboard)"}  # who applied it, not the app
    dry = service.client.post("/ui/costs", data={"csrf": csrf, "action": "plan"})
    assert "confirm-question" not in dry.text  # a dry run changes nothing: no question


def test_a_confirmed_form_still_needs_its_scope_and_csrf(service: ServiceHarness) -> None:
    operator = service.new_token("op", scopes=["operate"])
    csrf = service.login(operator)
    form = {"csrf": csrf, "action": "remediate", "confirmed": "yes"}
    assert service.client.post("/ui/costs", data=form).status_code == 403
    assert service.client.post("/ui/costs", data={**form, "csrf": "forged"}).status_code == 403
    assert service.client.get("/api/costs/audit", headers=service.auth).json() == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "text"),
    [
        ("GET", "/api/costs/report?start=2024-13-01", None, 422, "start"),
        ("GET", "/api/costs/report?start=2024-09-30&end=2024-09-01", None, 422, "before it starts"),
        ("GET", "/api/costs/anomalies?dimension=colour", None, 422, "unknown dimension"),
        ("GET", "/api/costs/budgets?as_of=0001-01-01", None, 422, "as of 0001-01-01: give a day"),
        ("GET", "/api/costs/forecast?as_of=2000-01-15", None, 422, "from 2000-02-25 to"),
        ("POST", "/api/costs/budgets/alert", {"as_of": "2101-01-01"}, 422, "as of 2101-01-01"),
        (
            "POST",
            "/api/costs/ingest",
            {"source": "nowhere", "start": "2024-09-01", "end": "2024-09-02"},
            422,
            "no cost API source",
        ),
        ("POST", "/api/costs/ingest", {"source": "aws"}, 422, "needs start and end"),
        ("POST", "/api/costs/remediate", {"approve": "yes please"}, 422, "approve"),
        ("POST", "/api/costs/remediate", {"approve": "yes"}, 422, "valid boolean"),
        ("POST", "/api/costs/remediate", {"approve": 1}, 422, "valid boolean"),
    ],
)
def test_bad_input_is_a_json_error_saying_what_to_fix(
    service: ServiceHarness, method: str, path: str, body: object, status: int, text: str
) -> None:
    response = service.client.request(method, path, json=body, headers=service.auth)
    assert response.status_code == status, response.text
    assert text in response.text
    assert service.client.get("/api/costs/audit", headers=service.auth).json() == []


def test_the_contract_suite_is_collected() -> None:
    assert TestCostsContract.app_name == "costs"


def test_a_lost_parquet_answers_503_naming_it(service: ServiceHarness, workdir: Path) -> None:
    assert service.client.get("/api/costs/report", headers=service.auth).status_code == 200
    next((workdir / ".skybridge" / "costs" / "parquet").glob("*.parquet")).unlink()
    response = service.client.get("/api/costs/report", headers=service.auth)
    assert response.status_code == 503
    assert response.json()["error"] == "DamagedState"
    assert "lost their Parquet" in response.json()["message"]


def test_a_rejected_object_is_named_by_the_route_and_the_page_and_the_rest_still_read(
    service: ServiceHarness,
) -> None:
    from skybridge.apps.kit.context import AppContext
    from skybridge.apps.kit.settings import load_settings

    spec = find_app(discover_apps(), "costs")
    ctx = AppContext.create(spec, load_settings([spec]))
    key = ctx.config.report_prefix + "0000-notes.csv"  # type: ignore[attr-defined]
    with ctx.connect("objects") as bucket:
        bucket.put(key, b"note,when\nhello,today\n")
    files = service.client.post("/api/costs/ingest", headers=service.auth).json()
    assert (files[0]["source"], files[0]["status"]) == (f"objects:{key}", "rejected")
    assert files[0]["reason"].startswith(f"{key}: the file is not a FOCUS export")
    assert {f["status"] for f in files[1:]} == {"unchanged"}  # the demo exports
    csrf = service.login()
    page = service.client.post("/ui/costs", data={"csrf": csrf, "action": "ingest"})
    assert "1 rejected: nothing of it was ingested" in page.text
    assert f"rejected: {key}: the file is not a FOCUS export" in page.text


def test_a_page_with_no_cost_data_shows_dashes_not_zeros(workdir: Path) -> None:
    """With nothing ingested the cards read 0.00 and "0.0%" breaking the tag policy: results
    that look real (fully compliant) where there is no data."""
    spec = find_app(discover_apps(), "costs")
    with service_harness([spec]) as harness:
        harness.login()
        page = harness.client.get("/ui/costs").text
    dash = '<span class="muted" title="no cost data ingested yet">—</span>'
    assert f'total-billed">{dash}' in page
    assert f'total-effective">{dash}' in page
    assert "0.0%" not in page
