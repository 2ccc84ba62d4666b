"""The batch workflow: extract -> copy to OCI -> load staging -> merge, one step at a time.

Each step is idempotent on its own and records its outcome in the batch's record
(:mod:`.batchrecord`) only after it finished, so the workflow can stop anywhere (a crash, a
Lambda timeout) and resume from the first step not done:

* ``extract`` writes the batch's rows as CSV parts to the AWS store under ``batches/<id>/``
  (from a query on the source database, or from the CSV files under a prefix): overwriting
  the same keys when run again;
* ``copy`` copies each part to the OCI store, skipping parts whose SHA-256 already matches;
* ``load`` replaces the batch's rows in ``<table>_staging`` (Oracle: ``DBMS_CLOUD.COPY_DATA``
  reads the parts from Object Storage);
* ``merge`` merges the newest version of each key into the table, never over a newer row,
  then deletes the batch's staging rows, in one transaction.

Every step calls ``env.before_write()`` before each write (each part put, the staging load,
the merge): the runner makes it refuse once the run's lease is lost, so a run that another run
took over stops before its next write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from skybridge.apps.datasync import metrics
from skybridge.apps.datasync.batchrecord import STEPS, BatchRecord
from skybridge.apps.datasync.changes import Change, coerce_row
from skybridge.apps.datasync.config import BatchSpec, DataSyncConfig
from skybridge.apps.datasync.parts import decode_part, encode_parts, read_source_csv
from skybridge.apps.datasync.sides import Side
from skybridge.apps.datasync.target import SqlTarget
from skybridge.backends.sql import translate_sql_error as translate
from skybridge.core.errors import ConfigError, ValidationError


def _may_write() -> None:
    """Nothing stops a write (steps run outside a batch run's lease)."""


@dataclass
class BatchEnv:
    """What the steps work on: settings, the target, both sides, the source database, and
    ``before_write``, which raises when the run may no longer write."""

    config: DataSyncConfig
    target: SqlTarget
    aws: Side
    oci: Side
    source: Engine | None = None
    before_write: Callable[[], None] = _may_write


def _naive(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def _query_rows(env: BatchEnv, spec: BatchSpec, record: BatchRecord) -> list[Change]:
    engine = env.source or env.target.engine
    table = env.target.spec(record.table)
    binds = {"window_start": _naive(record.window_start), "window_end": _naive(record.window_end)}
    query = text(spec.query or "")
    names = set(query.compile().params)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query, {k: v for k, v in binds.items() if k in names}).mappings()
            now = time.time()
            return [Change(record.table, "upsert", coerce_row(dict(r), table), now) for r in rows]
    except SQLAlchemyError as exc:
        raise translate(exc, f"batch {record.name} query") from None


def _prefix_rows(env: BatchEnv, spec: BatchSpec, record: BatchRecord) -> list[Change]:
    table = env.target.spec(record.table)
    changes: list[Change] = []
    now = time.time()
    for key in sorted(env.aws.keys(spec.prefix or "")):
        if key.endswith(".csv"):
            changes += read_source_csv(env.aws.get(key), table, record.table, key, now)
    return changes


def extract(env: BatchEnv, record: BatchRecord) -> dict[str, Any]:
    spec = env.config.batches[record.name]
    changes = _query_rows(env, spec, record) if spec.query else _prefix_rows(env, spec, record)
    table = env.target.spec(record.table)
    record.parts, record.rows = [], len(changes)
    for n, data in enumerate(encode_parts(changes, table, record.id)):
        key = f"batches/{record.id}/part-{n:05d}.csv"
        env.before_write()
        env.aws.put(key, data)
        record.parts.append(key)
    return {"rows": record.rows, "parts": len(record.parts)}


def copy(env: BatchEnv, record: BatchRecord) -> dict[str, Any]:
    copied = 0
    for key in record.parts:
        wanted = env.aws.digest(key)
        if wanted is not None and env.oci.digest(key) == wanted:
            continue  # copied by an earlier, interrupted run
        data = env.aws.get(key)
        env.before_write()
        env.oci.put(key, data)
        copied += 1
    return {"copied": copied, "already_there": len(record.parts) - copied}


def load(env: BatchEnv, record: BatchRecord) -> dict[str, Any]:
    if env.target.dialect == "oracle":
        return _copy_data(env, record)
    table = env.target.spec(record.table)
    changes: list[Change] = []
    for key in record.parts:
        changes += decode_part(env.oci.get(key), table, record.table, key)
    env.before_write()
    return {"staged": env.target.load_staging(record.table, record.id, changes)}


def _copy_data(env: BatchEnv, record: BatchRecord) -> dict[str, Any]:
    base = env.config.oracle_object_uri
    if not base:
        raise ConfigError(
            "loading into Oracle needs the Object Storage URI of the OCI side",
            setting="datasync.oracle_object_uri",
        )
    uris = [base.rstrip("/") + "/" + key for key in record.parts]
    env.before_write()
    env.target.copy_into_staging(record.table, record.id, uris, env.config.oracle_credential)
    return {"staged": record.rows, "files": len(uris)}


def merge(env: BatchEnv, record: BatchRecord) -> dict[str, Any]:
    started = time.time()
    env.before_write()
    written = env.target.merge_batch(record.table, record.id)
    lag = [started - record.window_end] if record.rows else []
    metrics.observe_latency(record.table, "batch", lag)
    return {"written": written, "stale": max(0, record.rows - written)}


RUNNERS: dict[str, Callable[[BatchEnv, BatchRecord], dict[str, Any]]] = {
    "extract": extract,
    "copy": copy,
    "load": load,
    "merge": merge,
}


def run_step(env: BatchEnv, record: BatchRecord, step: str) -> bool:
    """Run ``step`` of ``record`` unless it is done; False when it was skipped.

    Raises:
        ValidationError: an earlier step is not done yet (steps run in order).
    """
    if step not in RUNNERS:
        raise ValidationError(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
    state = record.steps[step]
    if state.state == "done":
        metrics.BATCH_STEPS.labels(record.name, step, "skipped").inc()
        return False
    before = STEPS[: STEPS.index(step)]
    if waiting := [s for s in before if record.steps[s].state != "done"]:
        raise ValidationError(f"batch {record.id}: step {step} needs {', '.join(waiting)} first")
    started = time.perf_counter()
    try:
        state.detail = RUNNERS[step](env, record)
    except Exception as exc:
        state.state, state.error, state.at = "failed", f"{type(exc).__name__}: {exc}", time.time()
        metrics.BATCH_STEPS.labels(record.name, step, "failed").inc()
        raise
    state.seconds = time.perf_counter() - started
    state.state, state.error, state.at = "done", None, time.time()
    metrics.BATCH_STEPS.labels(record.name, step, "done").inc()
    metrics.BATCH_STEP_SECONDS.labels(step).observe(state.seconds)
    return True
