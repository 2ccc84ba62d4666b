"""Names that cannot exist are refused the same way everywhere, before any store is touched.

The Python API checks layer, function and alias names (``api.NAME``), rollout layer ARNs and
alarm names itself, so the CLI (exit 2), the routes (422 naming the rule) and the dashboard's
actions (an error above the tables) share the checks; no answer mentions a storage key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from skybridge.apps.layers import api
from skybridge.cli import app
from skybridge.core.errors import ValidationError
from skybridge.testing.service import ServiceHarness

BAD_NAMES = ["", "../../x", "a\x00", "a b", "a\n", "x" * 141, "é"]
ARN = "arn:aws:lambda:us-east-1:123456789012:layer:deps:1"


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_api_refuses_a_name_lambda_would_not_take(layers_ctx: Any, name: str) -> None:
    calls: dict[str, list[Callable[[], object]]] = {
        "layer": [
            lambda: api.latest(layers_ctx, name),
            lambda: api.history(layers_ctx, name),
            lambda: api.publish(layers_ctx, name),
            lambda: api.prune(layers_ctx, name, dry_run=False),
            lambda: api.usage(layers_ctx, ["ok", name]),
        ],
        "function": [
            lambda: api.advance_rollout(layers_ctx, name, "live"),
            lambda: api.roll_back(layers_ctx, name, "live"),
            lambda: api.start_rollout(layers_ctx, name, "live", ARN),
        ],
        "alias": [
            lambda: api.advance_rollout(layers_ctx, "fn", name),
            lambda: api.roll_back(layers_ctx, "fn", name),
            lambda: api.start_rollout(layers_ctx, "fn", name, ARN),
        ],
    }
    for what, attempts in calls.items():
        for attempt in attempts:
            with pytest.raises(ValidationError, match=f"^{what} name ") as caught:
                attempt()
            assert "layers/" not in str(caught.value)
            assert "1-140 letters, digits, dashes or underscores" in str(caught.value)


def test_a_rollout_needs_a_layer_version_arn_and_a_plain_alarm_name(layers_ctx: Any) -> None:
    for arn in ("nope", "", ARN + "\x00", "arn:aws:lambda:x:layer:a b:1"):
        with pytest.raises(ValidationError, match="is not a layer version ARN"):
            api.start_rollout(layers_ctx, "fn", "live", arn)
    for alarm in ("", "a\x00", "a\nb", "x" * 256):
        with pytest.raises(ValidationError, match="alarm name"):
            api.start_rollout(layers_ctx, "fn", "live", ARN, alarm=alarm)


def test_the_cli_exits_2_on_such_names(layers_ctx: Any) -> None:
    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["layers", *args])
        return result.exit_code, result.output

    for args in (
        ("show", "../../x"),
        ("prune", "a b", "--apply"),
        ("usage", "--layer", "../x"),
        ("rollout", "advance", "a/b"),
        ("rollout", "rollback", "fn", "--alias", ""),
        ("rollout", "start", "fn", "--layer", "nope"),
    ):
        code, out = run(*args)
        assert code == 2, (args, out)
        assert "not allowed" in out or "not a layer version ARN" in out, out


def test_routes_answer_422_naming_the_rule_never_a_storage_key(service: ServiceHarness) -> None:
    for name in ("%00", "x" * 5000, "a%20b"):
        answer = service.client.get(f"/api/layers/builds/{name}", headers=service.auth)
        assert answer.status_code == 422, answer.text
        assert answer.json()["message"].startswith("layer name ")
        assert "layers/" not in answer.text
        assert "key" not in answer.text
        assert len(answer.text) < 500
    assert service.client.get("/api/layers/builds/nothing", headers=service.auth).status_code == 404


def _action(service: ServiceHarness, **form: str) -> str:
    answer = service.client.post("/ui/layers", data={"csrf": service.csrf or "", **form})
    assert answer.status_code == 200
    return answer.text


def _error(html: str) -> str:
    found = re.search(r'<div class="alert alert-error" role="alert">(.*?)</div>', html, re.S)
    assert found, "the page shows no error"
    return found.group(1)


def test_page_actions_refuse_the_names_the_api_refuses(service: ServiceHarness) -> None:
    usage = service.client.get("/api/layers/usage", headers=service.auth).json()
    for layer in ("", "../../x", "a\x00"):
        for action in ("prune", "plan-prune"):
            page = _action(service, action=action, layer=layer)
            assert "layer-result" not in page  # no prune ran
            assert "layer name" in _error(page)
            assert "is not allowed" in _error(page)
    assert service.client.get("/api/layers/usage", headers=service.auth).json() == usage
    for action in ("advance", "rollback"):
        page = _action(service, action=action, function="a\x00")
        assert "function name &#39;a\\x00&#39; is not allowed" in _error(page)
        assert "NUL" not in page
        assert "layers/rollouts" not in page
        page = _action(service, action=action, function="demo-orders", alias="../live")
        assert "alias name" in _error(page)
    rollouts = service.client.get("/api/layers/rollouts", headers=service.auth).json()
    assert [(r["status"], r["weight"]) for r in rollouts] == [("rolling", 0.1)]  # untouched
    page = _action(service, action="advance", function="demo-orders", alias="live")
    assert "layer-result" in page  # a good name still works
    assert "gets 50%" in page


def test_build_takes_a_path_as_text_or_path(layers_ctx: Any, requirements: Any) -> None:
    path = requirements("tiny==1.0\n")
    built = api.build(layers_ctx, "deps", str(path), smoke=False, scan=False, code=str(path.parent))
    assert built.build.packages
    assert api.latest(layers_ctx, "deps")["digest"] == built.to_dict()["digest"]
    for bad in (None, b"r.txt", 3):
        with pytest.raises(ValidationError, match=r"^requirements must be a path \(str or Path\)"):
            api.build(layers_ctx, "deps", bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^code must be a path .* got list"):
        api.build(layers_ctx, "deps", path, code=[path])  # type: ignore[arg-type]
