"""The Python API: :class:`DataSync`, the product the CLI, routes, page and handlers wrap.

::

    from skybridge.apps.datasync import DataSync, parse_change

    with DataSync.open(ctx) as sync:           # ctx: the app's AppContext
        sync.create_tables()
        sync.publish([{"table": "orders", "row": {"order_id": 1, "version": 3, ...}}])
        sync.apply(changes)                     # upsert now, version-guarded
        sync.run_batch("orders-daily")          # extract -> copy -> load -> merge
        sync.run_due()                          # what a tick of the batch job runs
        sync.status(); sync.batch_syncs()

Backends are connected on first use and closed by :meth:`DataSync.close`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from skybridge.apps.datasync.batches import BatchRunner, OnStep
from skybridge.apps.datasync.batchrecord import STEPS, BatchRecord, BatchRecords
from skybridge.apps.datasync.catchup import SyncProgress, SyncTick, catch_up, sync_progress
from skybridge.apps.datasync.changes import Change, parse_change
from skybridge.apps.datasync.config import DataSyncConfig
from skybridge.apps.datasync.engines import Resources
from skybridge.apps.datasync.explain import statements_for
from skybridge.apps.datasync.status import TableStatus, table_status
from skybridge.apps.datasync.stream import PIPELINE, build_stream, ensure_topic, publish
from skybridge.apps.datasync.target import Applied, SqlTarget
from skybridge.apps.datasync.watermarks import Watermarks
from skybridge.apps.datasync.workflow import BatchEnv
from skybridge.apps.kit.background import job_state
from skybridge.apps.kit.context import AppContext
from skybridge.core.errors import NotFound, SkybridgeError, shown
from skybridge.runtime.deadletter import DeadLetter, DeadLetters
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.scheduler import JobState

Context = AppContext[DataSyncConfig]
#: The app's scheduled job that runs the batch syncs (``jobs`` in the manifest).
BATCH_JOB = "batches"


def effective_config(ctx: Context) -> DataSyncConfig:
    """The app's settings; on demo data (``ctx.demo_data``) with the demo batch sync added."""
    if not ctx.demo_data:
        return ctx.config
    from skybridge.apps.datasync.demo import demo_config

    return demo_config(ctx.config)


class DataSync:
    """Stream and batch sync into the target database, and what they did."""

    def __init__(self, config: DataSyncConfig, resources: Resources) -> None:
        self.config = config
        self.res = resources

    @classmethod
    @contextmanager
    def open(cls, ctx: Context) -> Iterator[DataSync]:
        """A :class:`DataSync` on the app's configured backends, closed afterwards."""
        sync = cls(effective_config(ctx), Resources(ctx))
        try:
            yield sync
        finally:
            sync.close()

    def close(self) -> None:
        self.res.close()

    @property
    def target(self) -> SqlTarget:
        return self.res.target

    def create_tables(self) -> list[str]:
        """Create the target and staging tables that are missing; their names."""
        return self.target.create()

    def change(self, doc: Any) -> Change:
        """Validate one change document (JSON form), or pass a :class:`Change` through."""
        return doc if isinstance(doc, Change) else parse_change(doc, self.config.tables)

    def changes(self, docs: Iterable[Any]) -> list[Change]:
        """Validate change documents (JSON form) into changes; the first bad one raises."""
        return [self.change(d) for d in docs]

    def publish(self, docs: Iterable[Any]) -> int:
        """Produce changes to the topic (the AWS side of the stream path)."""
        changes = self.changes(docs)
        ensure_topic(self.res.streams, self.config.topic)
        return publish(self.res.streams, self.config.topic, changes, self.config.tables)

    def apply(self, docs: Iterable[Any]) -> list[Applied]:
        """Upsert changes now, in one transaction, each only over older versions."""
        return self.target.apply(self.changes(docs))

    def pipeline(self, *, close: bool = False) -> Pipeline:
        """The consumer pipeline (``skybridge worker run datasync.apply``); with ``close``,
        closing the pipeline closes this object's backends."""
        ensure_topic(self.res.streams, self.config.topic)
        return build_stream(
            self.res.streams,
            self.config.topic,
            self.target,
            batch_size=self.config.batch_size,
            on_close=self.close if close else None,
        )

    def runner(self) -> BatchRunner:
        env = BatchEnv(self.config, self.target, self.res.aws, self.res.oci, self.res.source)
        return BatchRunner(env, BatchRecords(self.res.kv))

    def run_batch(
        self,
        name: str,
        *,
        batch: str | None = None,
        at: float | None = None,
        steps: Sequence[str] = STEPS,
        on_step: OnStep | None = None,
    ) -> BatchRecord:
        """Run batch sync ``name``'s window before ``at`` (default: the last one), or resume
        its existing batch ``batch`` (NotFound when there is none: nothing is created)."""
        return self.runner().run(name, batch=batch, at=at, steps=steps, on_step=on_step)

    def run_due(self, *, at: float | None = None, until: float | None = None) -> list[SyncTick]:
        """One tick of the batch job as of ``at`` (default now): each batch sync's windows
        after its watermark, oldest first (:func:`~.catchup.catch_up`), starting none once
        :func:`time.monotonic` is past ``until``. A sync whose batch failed says so in its
        :class:`SyncTick`; the others run all the same."""
        at = time.time() if at is None else at
        runner, marks = self.runner(), Watermarks(self.res.kv)
        ticks = []
        for name in sorted(self.config.batches):
            try:
                ticks.append(catch_up(runner, marks, name, at, until=until))
            except SkybridgeError as exc:  # the kv store failing on the watermark
                ticks.append(SyncTick(name, error=f"{type(exc).__name__}: {exc}"))
        return ticks

    def batch_syncs(self, *, now: float | None = None) -> list[SyncProgress]:
        """How far each batch sync is complete (watermark, windows behind, the batch it
        waits on)."""
        now = time.time() if now is None else now
        runner, marks = self.runner(), Watermarks(self.res.kv)
        return [sync_progress(runner, marks, n, now) for n in sorted(self.config.batches)]

    def batch_job(self) -> JobState:
        """What the scheduler recorded of the batch job's last tick (its error when it
        failed); the defaults when it never ran."""
        return job_state(self.res.kv, "datasync", BATCH_JOB)

    def batches(self, limit: int = 200) -> list[BatchRecord]:
        """Batches, newest window first (at most ``limit``)."""
        return BatchRecords(self.res.kv).all(limit)

    def batches_and_total(self, limit: int = 200) -> tuple[list[BatchRecord], int]:
        """The ``limit`` batches of the newest windows, and how many batches there are."""
        return BatchRecords(self.res.kv).newest(limit)

    def batch(self, batch: str) -> BatchRecord:
        """The record of batch ``batch``; NotFound when there is none (or cannot be one)."""
        found = BatchRecords(self.res.kv).get(batch)
        if found is None:
            raise NotFound(f"no batch {shown(batch, 100)}", hint="see the batch list for batch ids")
        return found

    def status(self) -> list[TableStatus]:
        return [table_status(self.target, table) for table in self.config.tables]

    def lag(self) -> int:
        """Changes on the topic the consumer has not committed yet."""
        ensure_topic(self.res.streams, self.config.topic)
        return self.res.streams.total_lag(PIPELINE, self.config.topic)

    def dead_letters(self) -> list[DeadLetter]:
        """Dead-lettered change events (none while ``<topic>.dlq`` does not exist)."""
        return DeadLetters(self.res.streams, self.config.topic).letters()

    def replay(self, ids: Sequence[str] | None = None) -> list[DeadLetter]:
        """Republish dead letters (all not yet replayed, or ``ids``) to the topic."""
        return DeadLetters(self.res.streams, self.config.topic).replay(ids)

    def sql(self, table: str, dialect: str) -> dict[str, str]:
        """The statements datasync runs for ``table`` on ``dialect``, as text (no database
        is contacted)."""
        if table not in self.config.tables:
            known = ", ".join(self.config.tables)
            raise NotFound(f"no synced table {table!r}", hint=f"synced tables: {known}")
        spec = self.config.tables[table]
        return statements_for(table, spec, dialect, self.config.oracle_credential)


__all__ = ["Context", "DataSync"]
