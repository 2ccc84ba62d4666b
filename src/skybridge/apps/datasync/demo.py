"""``skybridge up --demo``: orders changing live, a stale and a bad event, a batch export.

:func:`seed_demo` (idempotent) creates the tables; publishes twelve orders' changes once (one
arriving after a newer version of its row, one delete and one event naming an unknown column,
which the apply pipeline dead-letters); and writes an AWS-side CSV export that the demo batch
sync ``orders-export`` takes through extract -> copy -> load -> merge for a fixed window.
While the service runs, :func:`produce_changes` publishes an update of a random order every
``[datasync] demo_every`` seconds, and now and then a stale one, so the page moves.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

from skybridge.apps.datasync.config import BatchSpec, DataSyncConfig
from skybridge.apps.datasync.service import Context, DataSync
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger

log = get_logger(__name__)
DEMO_BATCH = "orders-export"
EXPORT = "exports/orders/orders-demo.csv"
#: The demo batch's window (2026-01-01 00:00 UTC), so seeding twice finds the same batch.
DEMO_WINDOW = 1767225600.0
STATUSES = ("new", "paid", "packed", "shipped")


def demo_config(config: DataSyncConfig) -> DataSyncConfig:
    """``config`` with the demo batch sync when none is declared and ``orders`` is synced."""
    if config.batches or "orders" not in config.tables:
        return config
    batch = BatchSpec(table="orders", prefix="exports/orders/", every=3600.0)
    return config.model_copy(update={"batches": {DEMO_BATCH: batch}})


def _order(order_id: int, version: int, status: str) -> dict[str, Any]:
    amount = f"{(order_id * 7.25) % 90 + 10:.2f}"
    row = {"order_id": order_id, "customer_id": 100 + order_id % 5, "amount": amount}
    return {"table": "orders", "row": row | {"status": status, "version": version}}


def demo_changes() -> list[dict[str, Any]]:
    changes = [_order(n, 1, "new") for n in range(1, 13)]
    changes += [_order(n, 2, "paid") for n in (1, 2, 3, 5, 8)]
    changes += [_order(3, 3, "packed"), _order(3, 2, "paid")]  # v2 again, after v3: skipped
    changes.append({"table": "orders", "op": "delete", "row": {"order_id": 12, "version": 2}})
    changes.append({"table": "orders", "row": {"order_id": 99, "version": 1, "colour": "red"}})
    return changes


def _export_csv() -> bytes:
    lines = ["order_id,customer_id,amount,status,version"]
    lines += [f"{n},{200 + n % 3},{n * 3.5:.2f},shipped,1" for n in range(101, 111)]
    return ("\n".join(lines) + "\n").encode()


def seed_demo(ctx: Context) -> None:
    """Tables, the demo changes (once) and the demo batch (resumed if unfinished)."""
    with DataSync.open(ctx) as sync:
        sync.create_tables()
        streams, topic = sync.res.streams, sync.config.topic
        sync.publish([])  # creates the topic
        if not any(streams.end_offsets(topic).values()):
            bad = demo_changes()[-1]
            sync.publish(demo_changes()[:-1])
            streams.produce_one(topic, _raw(bad), key=b"orders:99")
        if sync.res.aws.digest(EXPORT) is None:
            sync.res.aws.put(EXPORT, _export_csv())
        if DEMO_BATCH in sync.config.batches:
            sync.run_batch(DEMO_BATCH, at=DEMO_WINDOW + 3600.0)


def _raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def produce_changes(ctx: Context, stop: threading.Event) -> None:
    """Publish a newer version of a random order every ``demo_every`` seconds."""
    rng = random.Random()
    while not stop.wait(ctx.config.demo_every):
        order = rng.randint(1, 11)
        version = int(time.time() * 1000)
        stale = rng.random() < 0.2
        change = _order(order, 1 if stale else version, rng.choice(STATUSES))
        try:
            with DataSync.open(ctx) as sync:
                sync.publish([change])
        except SkybridgeError as exc:
            log.warning("datasync.demo_publish_failed", error=str(exc))
