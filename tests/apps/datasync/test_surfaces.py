"""The CLI and HTTP routes on embedded backends: bad input says what to fix (exit 2 / 4xx)
and writes nothing; the happy paths publish, apply, run batches and report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.cli import build_cli
from skybridge.testing.service import ServiceHarness, service_harness

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
    code, out = cli("batch", "run", "nope")
    assert code == 2
    assert "no batch sync called 'nope'" in out
    assert "batch nope" not in out  # no progress bar was drawn before the refusal
    assert cli("batch", "show", "nope")[0] == 2
    code, out = cli("batch", "run", "x", "--step", "fly")
    assert code == 2
    assert "unknown step 'fly'" in out
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
        most = [  # the largest list the route takes, shaped like the guide's example: > 1 MiB
            {
                "table": "orders",
                "op": "upsert",
                "row": {"order_id": n, "amount": "19.90", "status": "paid", "version": 3},
                "at": 1767225600.25,
            }
            for n in range(10_000)
        ]
        encoded = json.dumps({"changes": most}).encode()
        assert len(encoded) > 1024 * 1024
        published = service.client.post(
            "/api/datasync/changes",
            headers={**auth, "Content-Type": "application/json"},
            content=encoded,
        )
        assert published.status_code == 200, published.text[:300]
        assert published.json() == {"published": 10_000}
        assert service.client.get("/api/datasync/batches/nope", headers=auth).status_code == 404
        unknown = service.client.post(
            "/api/datasync/batches/run", headers=auth, json={"name": "nope"}
        )
        assert unknown.status_code == 404
        assert "nope" in unknown.json()["message"]
        unknown_table = service.client.get("/api/datasync/sql/nope", headers=auth)
        assert unknown_table.status_code == 404
        assert "no synced table 'nope'" in unknown_table.json()["message"]
        sql = service.client.get("/api/datasync/sql/orders?dialect=oracle", headers=auth).json()
        assert sql["upsert"].startswith("MERGE INTO orders t")
        assert (
            service.client.get("/api/datasync/sql/orders?dialect=db2", headers=auth).status_code
            == 422
        )


def _post_raw(service: ServiceHarness, path: str, body: str) -> Any:
    """POST a JSON text as it is (``NaN`` and ``1e400`` cannot be written by ``json=``)."""
    headers = {**service.auth, "Content-Type": "application/json"}
    return service.client.post(path, headers=headers, content=body)


def test_changes_with_no_sane_time_or_an_unfit_number_are_refused_everywhere(
    skybridge_workdir: Path,
) -> None:
    row = '{"order_id": 1, "version": 1}'
    bad = {
        "at": [f'"at": {at}, "row": {row}' for at in ("1e308", "-1e300", "NaN", "Infinity")],
        "amount": [
            f'"row": {{"order_id": 1, "version": 1, "amount": {amount}}}'
            for amount in ('"1e400"', "1e308", '"NaN"', "NaN", '"-Infinity"')
        ],
    }
    spec = find_app(discover_apps(), "datasync")
    with service_harness([spec]) as service:
        for field, bodies in bad.items():
            for body in bodies:
                answer = _post_raw(
                    service,
                    "/api/datasync/changes",
                    f'{{"changes": [{{"table": "orders", "row": {row}}}, '
                    f'{{"table": "orders", {body}}}]}}',
                )
                assert answer.status_code == 422, body
                assert answer.json()["message"].startswith(
                    "changes[1]: " + ("at " if field == "at" else "column 'amount'")
                ), body
        status = service.client.get("/api/datasync/status", headers=service.auth).json()
        assert status["lag"] == 0  # nothing was published
    path = skybridge_workdir / "bad.jsonl"
    path.write_text(f'{{"table": "orders", "row": {row}}}\n{{"table": "orders", {bad["at"][2]}}}\n')
    for command in ("apply", "publish"):
        code, out = cli(command, str(path))
        assert code == 2, out
        assert "bad.jsonl line 2: at nan" in " ".join(out.split())
    path.write_text(f'{{"table": "orders", {bad["amount"][0]}}}\n')
    code, out = cli("apply", str(path))
    assert code == 2
    assert "28 digits before the decimal point" in " ".join(out.split())
    assert json.loads(cli("status", "--json")[1])["tables"][0]["rows"] == 0


def test_an_unknown_batch_id_is_404_and_creates_nothing(skybridge_workdir: Path) -> None:
    (skybridge_workdir / "skybridge.toml").write_text(SETTINGS)
    spec = find_app(discover_apps(), "datasync")
    with service_harness([spec]) as service:

        def run(**body: str) -> Any:
            return service.client.post(
                "/api/datasync/batches/run", headers=service.auth, json={"name": "nightly", **body}
            )

        for unknown in ("nope", "nightly-20990101T000000Z"):
            answer = run(batch_id=unknown)
            assert answer.status_code == 404, answer.text
            assert f"no batch {unknown!r}" in answer.json()["message"]
        malformed = run(batch_id="a/../b")
        assert malformed.status_code == 422
        assert "batch id 'a/../b' must be" in malformed.json()["message"]
        listed = service.client.get("/api/datasync/batches", headers=service.auth).json()
        assert listed == []
        made = run()
        assert made.status_code == 200, made.text
        again = run(batch_id=made.json()["id"])  # an existing batch resumes (all done: skipped)
        assert (again.status_code, again.json()["id"]) == (200, made.json()["id"])
        page = service.client.get("/api/datasync/batches?limit=1", headers=service.auth)
        assert [b["id"] for b in page.json()] == [made.json()["id"]]
        assert page.headers["X-Total-Count"] == "1"  # the count of every batch: see newest()
    code, out = cli("batch", "run", "nightly", "--id", "nightly-20990101T000000Z")
    assert code == 2
    assert "no batch 'nightly-20990101T000000Z'" in out
    listed = json.loads(cli("batch", "list", "--json")[1])
    assert [b["id"] for b in listed["batches"]] == [made.json()["id"]]
    assert (len(listed["batches"]), listed["total"], listed["offset"]) == (1, 1, 0)


def test_batch_list_says_how_many_it_leaves_out_and_takes_a_limit(
    skybridge_workdir: Path,
) -> None:
    """More batches than shown: the list says "showing N of M" and --json carries the total;
    --limit is validated (exit 2) and caps what is read, newest windows first."""
    from skybridge.apps.datasync.batchrecord import BatchRecord, BatchRecords, batch_id
    from skybridge.apps.datasync.service import DataSync
    from skybridge.apps.kit.context import AppContext

    (skybridge_workdir / "skybridge.toml").write_text(SETTINGS)
    with DataSync.open(AppContext.of("datasync")) as sync:
        records = BatchRecords(sync.res.kv)
        for hour in range(205):
            start = 1767225600.0 + 3600 * hour
            records.save(BatchRecord(batch_id("nightly", start), "nightly", "orders", start, 0))
    code, out = cli("batch", "list")
    assert code == 0, out
    said = " ".join(out.split())
    assert "showing 200 of 205" in said
    assert "5 more: --offset 200" in said
    listed = json.loads(cli("batch", "list", "--json", "--limit", "3")[1])
    assert (listed["total"], listed["offset"], listed["limit"]) == (205, 0, 3)
    newest = [batch_id("nightly", 1767225600.0 + 3600 * h) for h in (204, 203, 202)]
    assert [b["id"] for b in listed["batches"]] == newest
    page = json.loads(cli("batch", "list", "--json", "--limit", "2", "--offset", "1")[1])
    assert [b["id"] for b in page["batches"]] == newest[1:]
    assert "more:" not in cli("batch", "list", "--limit", "1000")[1]
    for bad in ("0", "1001", "-1", "many"):
        code, out = cli("batch", "list", "--limit", bad)
        assert code == 2, (bad, out)
        assert "--limit" in out


def test_batch_ids_that_cannot_exist_are_404_without_storage_keys(
    skybridge_workdir: Path,
) -> None:
    (skybridge_workdir / "skybridge.toml").write_text(SETTINGS)
    spec = find_app(discover_apps(), "datasync")
    long = "b" * 5000
    with service_harness([spec]) as service:
        for batch in ("%00", long, "a%0A", "a%20b"):
            answer = service.client.get(f"/api/datasync/batches/{batch}", headers=service.auth)
            assert answer.status_code == 404, answer.text
            assert answer.json()["message"].startswith("no batch ")
            assert "datasync/" not in answer.text
            assert "key" not in answer.text
            assert len(answer.text) < 400
        for batch_id in ("\x00", long):
            answer = service.client.post(
                "/api/datasync/batches/run",
                headers=service.auth,
                json={"name": "nightly", "batch_id": batch_id},
            )
            assert answer.status_code == 422
            assert answer.json()["message"].startswith("batch id ")
            assert "datasync/" not in answer.text
            assert len(answer.text) < 400
    code, out = cli("batch", "show", long)
    assert code == 2
    assert "datasync/" not in out
    assert "no batch" in out
