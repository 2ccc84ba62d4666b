"""The layers page asks before it deletes layer versions or moves a function's traffic."""

from __future__ import annotations

import re
from typing import Any

import pytest

from skybridge.apps.layers import api
from skybridge.apps.layers.lifecycle import PrunePlan, PruneStep
from skybridge.testing.service import ServiceHarness


def _post(service: ServiceHarness, **form: str) -> str:
    answer = service.client.post("/ui/layers", data={"csrf": service.csrf or "", **form})
    assert answer.status_code == 200
    return answer.text


def _question(html: str) -> str | None:
    found = re.search(r'<p id="confirm-question"[^>]*>(.*?)</p>', html, re.S)
    return found.group(1) if found else None


def _rollouts(service: ServiceHarness) -> list[dict[str, Any]]:
    answer = service.client.get("/api/layers/rollouts", headers=service.auth)
    return list(answer.json())


def test_roll_back_asks_first_naming_the_version_traffic_returns_to(
    service: ServiceHarness,
) -> None:
    (rollout,) = _rollouts(service)
    form = {"action": "rollback", "function": rollout["function"], "alias": rollout["alias"]}
    question = _question(_post(service, **form))
    assert question == (
        f"Roll back {rollout['function']}:{rollout['alias']}? All of its traffic goes back to "
        f"version {rollout['base']} now, and the rollout of {rollout['layer']} ends."
    )
    assert _rollouts(service) == [rollout]  # asked only

    done = _post(service, **form, confirmed="yes")
    assert _question(done) is None
    assert "layer-result" in done
    assert _rollouts(service)[0]["status"] == "rolled-back"


def test_prune_asks_first_listing_the_versions_it_deletes(
    service: ServiceHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans: list[bool] = []

    def planned(ctx: Any, name: str, *, keep: int | None = None, dry_run: bool = True) -> Any:
        plans.append(dry_run)
        steps = [
            PruneStep(v, f"arn:aws:lambda:us-east-1:1:layer:{name}:{v}", "delete", "unused")
            for v in (1, 2)
        ]
        return PrunePlan(name, keep or 1, dry_run, steps)

    monkeypatch.setattr(api, "prune", planned)
    asked = _post(service, action="prune", layer="deps")
    assert _question(asked) == (
        "Delete 2 versions of layer &#39;deps&#39; (1, 2)? No function uses them, and a deleted "
        "layer version cannot be restored."
    )
    assert plans == [True]  # only planned
    digest = re.search(r'name="plan" value="([0-9a-f]+)"', asked)
    assert digest
    _post(service, action="prune", layer="deps", confirmed="yes", plan=digest.group(1))
    assert plans == [True, True, False]  # planned again, same versions: deleted
    changed = _post(service, action="prune", layer="deps", confirmed="yes", plan="0" * 16)
    assert "changed after they were shown; nothing was deleted" in changed
    assert plans == [True, True, False, True]  # no deletion
    assert _question(_post(service, action="plan-prune", layer="deps")) is None


def test_prune_with_nothing_to_delete_runs_without_asking(service: ServiceHarness) -> None:
    (layer,) = {
        row["layer"] for row in service.client.get("/api/layers/usage", headers=service.auth).json()
    }
    page = _post(service, action="prune", layer=layer)
    assert _question(page) is None
    assert "layer-result" in page


def test_no_findings_is_not_an_all_clear_when_vulnerabilities_went_unchecked(
    service: ServiceHarness,
) -> None:
    page = service.client.get("/ui/layers").text
    must_not_ship = re.search(r"Must not ship</div>(.*?)</div></div>", page, re.S)
    assert must_not_ship, page
    assert "vulnerabilities not checked in 1 of 1: no advisory database" in must_not_ship.group(1)
    assert 'class="stat-value good"' not in must_not_ship.group(1)
    assert "no advisory database configured: vulnerabilities were not checked" in page
