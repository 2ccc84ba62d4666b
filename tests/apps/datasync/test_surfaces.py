"""The CLI and HTTP routes on embedded backends: bad input says what to fix (exit 2 / 4xx)
and writes nothing; the happy paths publish, apply, run batches and report."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.cli import build_cli
from skybridge.testing.service import service_harness

SETTINGS = """
[datasync.batches.nightly]
table = "orders"
prefix = "exports/"
every = 3600
"""


def cli(*args: str) -> tuple[int, str]:
    """Exit code and stdout (and stderr when it failed) of ``skybridge datasync ARGS``."""
    result = CliRunner().invoke(build_cli(), ["datasync", *args])
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def changes_file(path: Path, *docs: object) -> str:
    path.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    return str(path)


def test_apply_reports_applied_and_stale_and_status_shows_it(skybridge_workdir: Path) -> None:
    good = changes_file(
        skybridge_workdir / "c.jsonl",
        {"table": "orders", "row": {"order_id": 1, "version": 2, "status": "paid"}},
        {"table": "orders", "row": {"order_id": 1, "version": 1, "status": "new"}},
    )
    code, out = cli("apply", good, "--json")
    assert code == 0, out
    assert json.loads(out) == {"received": 2, "applied": 1, "stale": 1}
    code, out = cli("status", "--json")
    [table] = json.loads(out)["tables"]
    assert (table["rows"], table["max_version"]) == (1, "2")


def test_a_bad_change_file_exits_2_naming_the_line_and_writes_nothing(
    skybridge_workdir: Path,
) -> None:
    path = skybridge_workdir / "bad.jsonl"
    path.write_text(
        json.dumps({"table": "orders", "row": {"order_id": 1, "version": 1}}) + "\n{oops\n"
    )
    code, out = cli("apply", str(path))
    assert code == 2
    assert "line 2" in out
    content = skybridge_workdir / "content.jsonl"
    good = json.dumps({"table": "orders", "row": {"order_id": 1, "version": 1}})
    bad = json.dumps({"table": "orders", "row": {"order_id": "x", "version": 1}})
    content.write_text(f"{good}\n\n{good}\n{bad}\n")  # a blank line still counts
    code, out = cli("apply", str(content))
    assert code == 2
    assert "content.jsonl line 4: " in " ".join(out.split())
    assert "order_id" in out
    array = skybridge_workdir / "array.json"
    array.write_text(f"[{good}, {json.dumps({'table': 'nope', 'row': {}})}]")
    code, out = cli("publish", str(array))
    assert code == 2
    assert "array.json item 2: " in " ".join(out.split())
    assert json.loads(cli("status", "--json")[1])["tables"][0]["rows"] == 0


def test_unknown_names_exit_2(skybridge_workdir: Path) -> None:
    assert cli("explain", "nope")[0] == 2
    assert cli("explain", "orders", "--dialect", "mysql")[0] == 2
    assert cli("batch", "run", "nope")[0] == 2
    assert cli("batch", "show", "nope")[0] == 2
    assert cli("batch", "run", "x", "--step", "fly")[0] == 2
    assert cli("dlq", "replay")[0] == 2


def test_batch_run_and_show_from_the_cli(skybridge_workdir: Path) -> None:
    (skybridge_workdir / "skybridge.toml").write_text(SETTINGS)
    exports = skybridge_workdir / ".skybridge" / "objects" / "datasync" / "aws" / "exports"
    exports.mkdir(parents=True, mode=0o700)
    for folder in (exports, *exports.parents):
        if folder == skybridge_workdir:
            break
        folder.chmod(0o700)
    (exports / "a.csv").write_text("order_id,version,status\n1,1,new\n")
    code, out = cli("batch", "run", "nightly", "--json")
    assert code == 0, out
    record = json.loads(out)
    assert record["state"] == "done"
    code, out = cli("batch", "show", record["id"], "--json")
    assert json.loads(out)["steps"][3]["detail"] == {"written": 1, "stale": 0}
    code, out = cli("export-asl", "nightly")
    assert json.loads(out)["StartAt"] == "Extract"


def test_routes_validate_bodies_and_answer_with_json(skybridge_workdir: Path) -> None:
    spec = find_app(discover_apps(), "datasync")
    with service_harness([spec]) as service:
        auth = service.auth
        bad = service.client.post(
            "/api/datasync/changes",
            headers=auth,
            json={"changes": [{"table": "orders", "row": {"order_id": 1}}]},
        )
        assert bad.status_code == 422
        assert "version" in bad.json()["message"]
        assert (
            service.client.post(
                "/api/datasync/changes", headers=auth, json={"changes": []}
            ).status_code
            == 422
        )
        ok = service.client.post(
            "/api/datasync/changes",
            headers=auth,
            json={"changes": [{"table": "orders", "row": {"order_id": 1, "version": 1}}]},
        )
        assert ok.json() == {"published": 1}
        assert service.client.get("/api/datasync/batches/nope", headers=auth).status_code == 404
        unknown = service.client.post(
            "/api/datasync/batches/run", headers=auth, json={"name": "nope"}
        )
        assert unknown.status_code == 404
        assert "nope" in unknown.json()["message"]
        sql = service.client.get("/api/datasync/sql/orders?dialect=oracle", headers=auth).json()
        assert sql["upsert"].startswith("MERGE INTO orders t")
        assert (
            service.client.get("/api/datasync/sql/orders?dialect=db2", headers=auth).status_code
            == 422
        )
