"""``skybridge layers ...`` end to end on embedded backends, installing tiny wheels offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skybridge.apps.kit.context import AppContext
from skybridge.cli import app

from .conftest import needs_advisories

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["layers", *args])
    return result.exit_code, result.output


@pytest.fixture
def req(layers_ctx: AppContext[object], tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("tiny==1.0\n")
    return path


def test_build_show_list_publish_prune_usage(req: Path) -> None:
    code, out = run("build", "deps", "-r", str(req), "--json")
    assert code == 0, out
    record = json.loads(out)
    assert record["passed"]
    assert record["smoke"]["passed"] is True
    assert {p["name"] for p in record["packages"]} == {"tiny", "helper"}
    code, out = run("build", "deps", "-r", str(req))
    assert code == 0
    assert "from cache" in out
    assert "<0.1% of Lambda's 250 MB unzipped limit" in out  # a tiny layer
    assert "may ship" in out
    assert json.loads(run("show", "deps", "--json")[1])["digest"] == record["digest"]
    assert [r["name"] for r in json.loads(run("list", "--json")[1])] == ["deps"]
    first = json.loads(run("publish", "deps", "--json")[1])
    again = json.loads(run("publish", "deps", "--json")[1])
    assert (first["new"], again["new"], again["version"]) == (True, False, 1)
    plan = json.loads(run("prune", "deps", "--keep", "1", "--json")[1])
    assert plan["dry_run"]
    assert plan["deleted"] == []
    rows = json.loads(run("usage", "--json")[1])
    assert [(r["layer"], r["version"], r["users"]) for r in rows] == [("deps", 1, [])]
    code, out = run("usage", "--layer", "deps", "--layer", "nosuch", "--layer", "gone")
    assert code == 2, out
    assert "layers 'nosuch', 'gone' have no published version" in " ".join(out.split())
    assert "['" not in out  # no Python list printed raw
    code, out = run("usage", "--layer", "deps", "--json")
    assert [r["layer"] for r in json.loads(out)] == ["deps"]


def test_failing_smoke_test_exits_1_and_publish_refuses(
    layers_ctx: AppContext[object], tmp_path: Path
) -> None:
    path = tmp_path / "broken.txt"
    path.write_text("broken==1.0\n")
    code, out = run("build", "bad", "-r", str(path))
    assert code == 1, out
    assert "must not ship" in out
    assert "boom" in out
    code, out = run("publish", "bad")
    assert code == 2
    assert "must not ship" in out
    assert run("publish", "bad", "--force", "--json")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "x", "-r", "missing.txt"], "does not exist"),
        (["build", "x", "-r", "{req}", "--runtime", "python2.7"], "python2.7"),
        (["build", "x", "-r", "{req}", "--arch", "sparc"], "sparc"),
        (["show", "nothing"], "no build of layer"),
        (["build", "", "-r", "{req}"], "layer name '' is not allowed"),
        (["build", "a/../b", "-r", "{req}"], "1-140 letters, digits, dashes or underscores"),
        (["build", "x" * 141, "-r", "{req}"], "is not allowed"),
        (["prune", "x", "--keep", "0"], "keep"),
        (["rollout", "start", "fn", "--layer", "arn:x:layer:deps:1", "--steps", "a,b"], "--steps"),
        (
            ["rollout", "start", "fn", "--layer", "arn:x:layer:deps:1", "--steps", ","],
            "--steps ',' holds no weight",
        ),
        (
            ["rollout", "start", "fn", "--layer", "arn:x:layer:deps:1", "--steps", " "],
            "--steps ' ' holds no weight",
        ),
        (
            ["rollout", "start", "fn", "--layer", "arn:x:layer:deps:1", "--steps", "0.1,,0.5"],
            "--steps '0.1,,0.5' has a blank weight",
        ),
        (["usage", "--layer", "nosuch"], "layer 'nosuch' has no published version"),
    ],
)
def test_bad_input_exits_2_with_what_to_fix(req: Path, args: list[str], message: str) -> None:
    code, out = run(*[a.replace("{req}", str(req)) for a in args])
    assert code == 2, out
    assert message in out
    assert "Traceback" not in out


@needs_advisories
def test_vulnerable_pin_fails_the_build_naming_the_advisory(
    layers_ctx: AppContext[object], tmp_path: Path
) -> None:
    from skybridge.apps.layers.wheels import write_wheel

    wheels = Path(layers_ctx.config.find_links[0])
    write_wheel(wheels, "requests", "2.30.0", {"requests/__init__.py": "__version__ = '2.30.0'\n"})
    path = tmp_path / "vulnerable.txt"
    path.write_text("requests==2.30.0\n")
    code, out = run("build", "web", "-r", str(path), "--json")
    assert code == 1
    record = json.loads(out)
    assert "PYSEC-2023-74" in {f["id"] for f in record["scan"]["findings"]}
    assert run("build", "web", "-r", str(path), "--fail-on", "never", "--json")[0] == 0


def test_rollout_commands(layers_ctx: AppContext[object], req: Path) -> None:
    from skybridge.apps.layers import api

    assert run("build", "deps", "-r", str(req))[0] == 0
    arn = api.publish(layers_ctx, "deps").layer.arn  # type: ignore[arg-type]
    with layers_ctx.connect("functions") as platform:
        from skybridge.backends.functions import Alias
        from skybridge.testing.contracts.functions import tiny_zip

        platform.create_function("orders", runtime="python3.12", code=tiny_zip())
        platform.put_alias(
            Alias("orders", "live", platform.publish_function_version("orders").version)
        )
    code, out = run("rollout", "start", "orders", "--layer", arn, "--steps", "0.25", "--json")
    assert code == 0, out
    assert json.loads(out)["weight"] == 0.25
    assert json.loads(run("rollout", "list", "--json")[1])[0]["status"] == "rolling"
    code, out = run("rollout", "rollback", "orders")
    assert code == 1
    assert "rolled-back" in out
