"""datasync metrics on the shared ``METRICS`` registry (scraped at ``/metrics``).

* ``skybridge_datasync_changes_total{table, outcome}``: changes ``applied`` or skipped as
  ``stale`` (not newer than the row already there: redeliveries and late arrivals);
* ``skybridge_datasync_cross_cloud_latency_seconds{table, path}``: from the change at the
  source (``at``) to its commit in the target database, by ``stream`` or ``batch``;
* ``skybridge_datasync_batch_steps_total{batch, step, outcome}`` and
  ``skybridge_datasync_batch_step_seconds{step}``: the batch workflow;
* ``skybridge_datasync_pool_connections{state}``: the target's connection pool
  (``checked_out``, ``idle``).

Labels carry table, batch and step names only, never row values.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine, event

from skybridge.core.observability import METRICS

CHANGES = Counter(
    "skybridge_datasync_changes",
    "Changes applied, or skipped as not newer than the target's row.",
    ["table", "outcome"],
    registry=METRICS,
)
CROSS_CLOUD_LATENCY = Histogram(
    "skybridge_datasync_cross_cloud_latency_seconds",
    "Seconds from a change at the source to its commit in the target database.",
    ["table", "path"],
    registry=METRICS,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400),
)
BATCH_STEPS = Counter(
    "skybridge_datasync_batch_steps",
    "Batch workflow steps run, by outcome (done, skipped, failed).",
    ["batch", "step", "outcome"],
    registry=METRICS,
)
BATCH_STEP_SECONDS = Histogram(
    "skybridge_datasync_batch_step_seconds",
    "Seconds one batch step took.",
    ["step"],
    registry=METRICS,
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900),
)
POOL = Gauge(
    "skybridge_datasync_pool_connections",
    "Connections of the target database pool, checked out or idle.",
    ["state"],
    registry=METRICS,
)


def count_applied(table: str, applied: int, stale: int) -> None:
    CHANGES.labels(table, "applied").inc(applied)
    CHANGES.labels(table, "stale").inc(stale)


def observe_latency(table: str, path: str, seconds: Iterable[float]) -> None:
    histogram = CROSS_CLOUD_LATENCY.labels(table, path)
    for value in seconds:
        histogram.observe(max(0.0, value))


def watch_pool(engine: Engine) -> None:
    """Keep :data:`POOL` current for ``engine``'s pool."""

    def changed(*_args: object) -> None:
        pool = engine.pool
        checked_out = getattr(pool, "checkedout", lambda: 0)()
        POOL.labels("checked_out").set(checked_out)
        POOL.labels("idle").set(getattr(pool, "checkedin", lambda: 0)())

    for name in ("checkout", "checkin", "connect"):
        event.listen(engine, name, changed)
