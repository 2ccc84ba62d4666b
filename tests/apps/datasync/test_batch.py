"""The batch workflow: extract -> copy to OCI -> load staging -> merge, resumable and idempotent.

On local stores into SQLite; from S3 (moto) to OCI Object Storage (the emulator) into
PostgreSQL, where an injected Object Storage outage fails the copy step and the batch resumes
there; from a query on a source database; and bad CSV files named with their line.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError as PydanticError
from sqlalchemy import Engine, text
from tests.apps.datasync.conftest import TABLES, change
from tests.apps.datasync.test_target import actual

from skybridge.apps.datasync.batches import BatchRunner, window
from skybridge.apps.datasync.batchrecord import BatchRecord, BatchRecords, batch_id, is_batch_id
from skybridge.apps.datasync.config import BatchSpec, DataSyncConfig
from skybridge.apps.datasync.sides import Side
from skybridge.apps.datasync.target import SqlTarget
from skybridge.apps.datasync.workflow import BatchEnv
from skybridge.backends import kv, objects
from skybridge.core.errors import Conflict, NotFound, TransientError, ValidationError
from skybridge.runtime.holders import this_process

AT = 1767229200.0  # 2026-01-01 01:00 UTC: the window [00:00, 01:00)
CSV = (
    b"order_id,customer_id,amount,status,version\n"
    b"1,7,10.50,shipped,2\n2,8,3.00,new,1\n1,7,9.00,paid,1\n"
)


def config(**batch: Any) -> DataSyncConfig:
    spec = BatchSpec(table="orders", every=3600, **(batch or {"prefix": "exports/"}))
    return DataSyncConfig(batches={"nightly": spec})


def runner(tmp: Path, target: SqlTarget, aws: Side, oci: Side, **batch: Any) -> BatchRunner:
    env = BatchEnv(config(**batch), target, aws, oci)
    return BatchRunner(env, BatchRecords(kv.connect(f"sqlite:///{tmp / 'kv.db'}", setting=None)))


def local_sides(tmp: Path) -> tuple[Side, Side]:
    store = objects.connect(f"file://{tmp / 'objects'}", setting=None)
    return Side("aws", store, "aws/"), Side("oci", store, "oci/")


def test_a_batch_runs_every_step_once_and_a_rerun_does_nothing(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    target = SqlTarget(sqlite_engine, TABLES)
    target.create()
    target.apply([change(2, 5, "newer-already")])
    aws, oci = local_sides(tmp_path)
    aws.put("exports/day.csv", CSV)
    run = runner(tmp_path, target, aws, oci)
    states: list[tuple[str, str]] = []
    record = run.run("nightly", at=AT, on_step=lambda s, st: states.append((s, st)))
    assert record.id == "nightly-20260101T000000Z"
    assert record.state == "done"
    assert [s for s in states if s[1] == "done"] == [
        (s, "done") for s in ("extract", "copy", "load", "merge")
    ]
    assert record.steps["merge"].detail == {"written": 1, "stale": 2}
    assert oci.digest(record.parts[0]) == aws.digest(record.parts[0])
    assert actual(target) == {1: (2, False, "shipped"), 2: (5, False, "newer-already")}
    again = run.run("nightly", at=AT + 60, on_step=lambda s, st: states.append((s, st)))
    assert again.to_dict()["steps"] == record.to_dict()["steps"]
    assert states[-2:] == [("merge", "running"), ("merge", "skipped")]


def test_the_window_is_the_last_complete_one() -> None:
    assert window(3600, AT + 59) == (AT - 3600, AT)


def test_a_bad_csv_fails_the_extract_naming_file_and_line(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    target = SqlTarget(sqlite_engine, TABLES)
    target.create()
    aws, oci = local_sides(tmp_path)
    aws.put("exports/day.csv", b"order_id,version,amount\n1,1,ten\n")
    run = runner(tmp_path, target, aws, oci)
    with pytest.raises(ValidationError, match=r"exports/day.csv line 2: column 'amount'"):
        run.run("nightly", at=AT)
    record = run.records.get("nightly-20260101T000000Z")
    assert record is not None
    assert record.state == "failed"
    assert "amount" in (record.error or "")
    assert target.rows("orders") == []


def test_a_batch_held_by_another_runner_is_refused(tmp_path: Path, sqlite_engine: Engine) -> None:
    target = SqlTarget(sqlite_engine, TABLES)
    target.create()
    aws, oci = local_sides(tmp_path)
    run = runner(tmp_path, target, aws, oci)
    run.leases.acquire("nightly-20260101T000000Z", "elsewhere:4242", 60)
    with pytest.raises(Conflict, match=r"is being run by elsewhere:4242 \(its lease runs until"):
        run.run("nightly", at=AT)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # a live process of this host keeps its lease
        run.leases.release(run.leases.holder("nightly-20260101T000000Z"))  # type: ignore[arg-type]
        here = this_process().rsplit(":", 2)[0]  # this host and PID namespace
        run.leases.acquire("nightly-20260101T000000Z", f"{here}:{alive.pid}:-", 60)
        with pytest.raises(Conflict, match=f"process {alive.pid} on host "):
            run.run("nightly", at=AT)
    finally:
        alive.kill()
        alive.wait()


def test_a_batch_whose_runner_was_killed_on_this_host_is_taken_over(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    target = SqlTarget(sqlite_engine, TABLES)
    target.create()
    aws, oci = local_sides(tmp_path)
    run = runner(tmp_path, target, aws, oci)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a runner killed (SIGKILL) before it released the lease: its pid is free
    here = this_process().rsplit(":", 2)[0]
    # another PID namespace on a host of the same name (a container): its pid means nothing here
    run.leases.acquire("nightly-20260101T000000Z", f"{socket.gethostname()}:0:{gone.pid}:-", 900)
    with pytest.raises(Conflict, match="is being run by"):
        run.run("nightly", at=AT)
    run.leases.release(run.leases.holder("nightly-20260101T000000Z"))  # type: ignore[arg-type]
    run.leases.acquire("nightly-20260101T000000Z", f"{here}:{gone.pid}:-", 900)
    record = run.run("nightly", at=AT)
    assert record.state == "done"
    assert run.leases.holder("nightly-20260101T000000Z") is None  # released at the end


def test_a_query_extracts_the_window_from_the_source_database(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    with sqlite_engine.begin() as conn:
        conn.execute(text("CREATE TABLE src (id INT, v INT, st TEXT, changed TIMESTAMP)"))
        conn.execute(
            text(
                "INSERT INTO src VALUES (1, 1, 'in', '2026-01-01 00:30:00'), "
                "(2, 1, 'out', '2026-01-02 00:00:00')"
            )
        )
    target = SqlTarget(sqlite_engine, TABLES)
    target.create()
    aws, oci = local_sides(tmp_path)
    query = (
        "SELECT id AS order_id, v AS version, st AS status FROM src "
        "WHERE changed >= :window_start AND changed < :window_end"
    )
    record = runner(tmp_path, target, aws, oci, query=query).run("nightly", at=AT)
    assert record.rows == 1
    assert actual(target) == {1: (1, False, "in")}


@pytest.mark.moto
@pytest.mark.oci
@pytest.mark.postgres
def test_s3_to_oci_object_storage_into_postgresql_resumes_after_an_outage(
    tmp_path: Path, moto_server: Any, oci_emulator: Any, pg_database: Any
) -> None:
    bucket = f"ds-{uuid.uuid4().hex[:8]}"
    aws_store = objects.connect(
        f"s3://{bucket}/sync?endpoint_url={moto_server.url}&region=us-east-1&create=1", setting=None
    )
    oci_config = oci_emulator.write_config(tmp_path)
    oci_store = objects.connect(
        f"oci://{bucket}@{oci_emulator.namespace}/landing?config_file={oci_config}"
        f"&endpoint={oci_emulator.endpoint}&create=true&max_attempts=1",
        setting=None,
    )
    target = SqlTarget(pg_database(), TABLES)
    target.create()
    aws, oci = Side("aws", aws_store), Side("oci", oci_store)
    aws.put("exports/day.csv", CSV)
    run = runner(tmp_path, target, aws, oci)
    oci_emulator.faults.inject("PutObject", 503, times=5)
    with pytest.raises(TransientError):
        run.run("nightly", at=AT)
    failed = run.records.get("nightly-20260101T000000Z")
    assert failed is not None
    assert (failed.steps["extract"].state, failed.steps["copy"].state) == ("done", "failed")
    oci_emulator.faults.clear()
    states: list[tuple[str, str]] = []
    done = run.run("nightly", at=AT, on_step=lambda s, st: states.append((s, st)))
    assert done.state == "done"
    assert ("extract", "skipped") in states  # resumed at the copy, extract not run again
    assert oci_store.exists(done.parts[0])
    assert actual(target) == {1: (2, False, "shipped"), 2: (1, False, "new")}


def test_a_batch_id_resumes_only_a_batch_that_exists(tmp_path: Path, sqlite_engine: Engine) -> None:
    target = SqlTarget(sqlite_engine, TABLES)
    target.create()
    aws, oci = local_sides(tmp_path)
    aws.put("exports/day.csv", CSV)
    run = runner(tmp_path, target, aws, oci)
    for unknown in ("nope", "nightly-20990101T000000Z", "nightly-20260101T000000Z"):
        with pytest.raises(NotFound, match=f"no batch '{unknown}' of batch sync 'nightly'"):
            run.run("nightly", batch=unknown, at=AT)
    for malformed in ("", "a\x00", "nope\n", "x" * 121):
        with pytest.raises(ValidationError, match=r"batch id .* must be 1-120 letters") as caught:
            run.run("nightly", batch=malformed, at=AT)
        assert "datasync/" not in str(caught.value)
    assert run.records.all() == []  # nothing was created
    assert target.rows("orders") == []
    partial = run.run("nightly", at=AT, steps=["extract"])
    resumed = run.run("nightly", batch=partial.id, at=AT + 7 * 86400)  # the id, not the time
    assert (resumed.id, resumed.state, resumed.window_start) == (partial.id, "done", AT - 3600)
    assert [r.id for r in run.records.all()] == [partial.id]


def test_batch_sync_names_make_batch_ids_that_can_be_looked_up() -> None:
    spec = BatchSpec(table="orders", prefix="exports/")
    for bad in ("bad name", "a/b", "-x", "x" * 80):
        with pytest.raises(PydanticError, match="batch sync"):
            DataSyncConfig(batches={bad: spec})
    longest = "x" * 79
    assert DataSyncConfig(batches={longest: spec}).batches[longest] == spec
    assert is_batch_id(batch_id(longest, 253402297200.0))  # 9999-12-31T23:00:00Z
    assert is_batch_id(batch_id(longest, 253402297200.0, 31_536_000_000.0))  # 1000 years


def test_the_newest_batches_are_read_without_decoding_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window is in the key: a page of 11 decodes about 11 records, not every one, and
    keeps the order (window, then id) also for windows within one second of the cut."""
    store = kv.connect(f"sqlite:///{tmp_path / 'kv.db'}")
    records = BatchRecords(store)
    every = []
    for name in ("nightly", "orders-daily"):
        for hour in range(300):
            start = AT + 3600 * hour + (0.5 if (name, hour) == ("nightly", 294) else 0)
            records.save(BatchRecord(batch_id(name, start), name, "orders", start, start + 1))
            every.append((start, batch_id(name, start)))
    odd = BatchRecord("odd-id", "nightly", "orders", AT + 1e6, 0)  # an id of another shape
    store.put("datasync/batches/odd-id", json.dumps(odd.to_dict()).encode())
    every = sorted([*every, (AT + 1e6, "odd-id")], reverse=True)
    decoded = []
    original = BatchRecord.from_dict

    def counting(doc: dict[str, Any]) -> BatchRecord:
        decoded.append(doc["id"])
        return original(doc)

    monkeypatch.setattr(BatchRecord, "from_dict", staticmethod(counting))
    page = records.all(11)
    assert len(decoded) <= 13  # the page, the odd id and the other batch of the cut's second
    assert records.newest(11) == (page, 601)
    assert [r.id for r in page] == [i for _, i in every[:11]]
    assert page[-1].id == batch_id("nightly", AT + 3600 * 294)  # 0.5 s later than orders-daily
    everything, _ = records.newest(1000)
    assert [(r.window_start, r.id) for r in everything] == every
    assert records.all(3) == everything[:3]
    store.close()
