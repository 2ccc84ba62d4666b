"""secretsync metrics on the shared ``METRICS`` registry (scraped at ``/metrics``).

The only identifying label is the mapping name: never an ARN, OCID, version id, value or hash.

* ``skybridge_secretsync_syncs_total{mapping, outcome}``: sync outcomes (``created``,
  ``updated``, ``unchanged``, ``stale``, ``dead-lettered``, ``failed``...);
* ``skybridge_secretsync_reconcile_actions_total{mapping, action}``: planned reconcile actions;
* ``skybridge_secretsync_dead_letters_total{mapping}``: events dead-lettered (``-`` when the
  event matched no mapping);
* ``skybridge_secretsync_sync_lag_seconds{mapping}``: source write (event time) to target write.

:class:`MeteredSecretSync` is a :class:`SecretSync` that records them; :class:`MeteredDeadLetters`
counts dead letters for any :class:`DeadLetters`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Histogram

from skybridge.apps.secretsync.deadletters import DeadLetter, DeadLetters
from skybridge.apps.secretsync.engine import OnTransient, ReplayResult, SecretSync
from skybridge.apps.secretsync.reconcile import ReconcileReport
from skybridge.apps.secretsync.reconcile_run import OnProgress
from skybridge.apps.secretsync.writer import SyncOutcome
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import METRICS

SYNCS = Counter(
    "skybridge_secretsync_syncs",
    "Sync outcomes per mapping (events, manual syncs, replays and reconcile writes).",
    ["mapping", "outcome"],
    registry=METRICS,
)
RECONCILE_ACTIONS = Counter(
    "skybridge_secretsync_reconcile_actions",
    "Reconcile plan actions per mapping (noop, update, repair, create, refuse...).",
    ["mapping", "action"],
    registry=METRICS,
)
DEAD_LETTERS = Counter(
    "skybridge_secretsync_dead_letters",
    "Events dead-lettered per mapping ('-': the event matched no mapping).",
    ["mapping"],
    registry=METRICS,
)
SYNC_LAG = Histogram(
    "skybridge_secretsync_sync_lag_seconds",
    "Seconds from the source write (event time) to the target write.",
    ["mapping"],
    registry=METRICS,
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)


def record_outcomes(engine: SecretSync, outcomes: Iterable[SyncOutcome]) -> None:
    """Count outcomes; observe the lag of each write (dead letters count in the letters)."""
    for outcome in outcomes:
        if outcome.action == "dead-lettered":
            continue
        SYNCS.labels(outcome.mapping, outcome.action).inc()
        if outcome.wrote:
            state = engine.state.get(outcome.mapping)
            if state is not None and state.lag_seconds is not None:
                SYNC_LAG.labels(outcome.mapping).observe(max(0.0, state.lag_seconds))


def record_report(engine: SecretSync, report: ReconcileReport) -> None:
    for action in report.plan.actions:
        RECONCILE_ACTIONS.labels(action.mapping, action.action).inc()
    record_outcomes(engine, report.outcomes)


class MeteredDeadLetters:
    """A :class:`DeadLetters` that counts every ``put`` (even one that raises)."""

    def __init__(self, inner: DeadLetters) -> None:
        self.inner = inner

    def put(
        self,
        event: Mapping[str, Any],
        *,
        reason: str,
        error_type: str,
        mapping: str | None = None,
        attempts: int = 1,
    ) -> DeadLetter:
        DEAD_LETTERS.labels(mapping or "-").inc()
        SYNCS.labels(mapping or "-", "dead-lettered").inc()
        return self.inner.put(
            event, reason=reason, error_type=error_type, mapping=mapping, attempts=attempts
        )

    def list(self, limit: int | None = None) -> list[DeadLetter]:
        return self.inner.list(limit)

    def replay(self, letter_id: str) -> DeadLetter:
        return self.inner.replay(letter_id)

    def remove(self, letter_id: str) -> bool:
        return self.inner.remove(letter_id)


class MeteredSecretSync(SecretSync):
    """:class:`SecretSync` recording the metrics above (the constructor is the same)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dead_letters = MeteredDeadLetters(self.dead_letters)

    def sync_event(
        self, event: Any, *, on_transient: OnTransient = "dead-letter"
    ) -> list[SyncOutcome]:
        outcomes = super().sync_event(event, on_transient=on_transient)
        record_outcomes(self, outcomes)
        return outcomes

    def sync_mapping(self, name: str, *, version_id: str | None = None) -> SyncOutcome:
        try:
            outcome = super().sync_mapping(name, version_id=version_id)
        except SkybridgeError:
            if name in {m.name for m in self.table.mappings}:
                SYNCS.labels(name, "failed").inc()
            raise
        record_outcomes(self, [outcome])
        return outcome

    def reconcile(
        self,
        *,
        dry_run: bool = False,
        mappings: list[str] | None = None,
        full: bool = False,
        progress: OnProgress | None = None,
    ) -> ReconcileReport:
        report = super().reconcile(dry_run=dry_run, mappings=mappings, full=full, progress=progress)
        if not dry_run:
            record_report(self, report)
        return report

    def replay(self, letter_ids: list[str] | None = None) -> list[ReplayResult]:
        results = super().replay(letter_ids)
        record_outcomes(self, [o for r in results for o in r.outcomes])
        return results
