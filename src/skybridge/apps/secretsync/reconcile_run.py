"""Running a reconcile: plan every mapping, batch-read the sources that changed, apply.

Planning learns the sources' current versions from one ``describe_many`` per source backend
(AWS answers many secrets from one ``ListSecrets`` listing). Each target is read once, or, when
its store has a change feed, only when :class:`~skybridge.apps.secretsync.verify.TargetVerifier`
finds a reason (source changed, changed in the feed, no state, full sweep). The target reads
run :data:`READ_WORKERS` at a time (a full sweep of 5,000 targets is 5,000 round trips). If a
backend's bulk describe fails, its mappings are described one by one, each with its own retries
and its own error.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from skybridge.apps.secretsync.ownership import KEYS
from skybridge.apps.secretsync.reconcile import (
    Plan,
    PlannedAction,
    ReconcileReport,
    describe_source,
    group_by_source,
    plan_mapping,
    precheck,
)
from skybridge.apps.secretsync.verify import TargetChecks, TargetVerifier, settings_key
from skybridge.apps.secretsync.writer import SyncOutcome, read_target
from skybridge.backends.secrets import SecretVersion
from skybridge.backends.secrets.types import SecretInfo
from skybridge.core.errors import SkybridgeError
from skybridge.core.retry import call_with_retry

if TYPE_CHECKING:
    from skybridge.apps.secretsync.engine import SecretSync
    from skybridge.apps.secretsync.model import SecretMapping
    from skybridge.apps.secretsync.state import MappingState

#: Actions that write the source's current value to the target.
NEEDS_VALUE = frozenset({"create", "update", "repair"})
#: Targets read at once while planning: enough to hide round trips, well under the request
#: rates OCI and AWS allow per tenancy.
READ_WORKERS = 8
Planned = list[tuple["SecretMapping", PlannedAction]]
#: Source descriptions by mapping name; ``None`` when the source does not exist.
Sources = dict[str, SecretInfo | None]
#: Told ``(phase, done, total)`` as a reconcile goes: ``plan`` (mappings planned so far) and,
#: unless a dry run, ``apply`` (mappings applied so far). Called from the reconciling thread
#: only; an exception it raises stops the reconcile.
OnProgress = Callable[[str, int, int], None]


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


class Reconciler:
    """Reconcile for one :class:`SecretSync` (uses its backends, state, writer and retries)."""

    def __init__(self, engine: SecretSync) -> None:
        self.engine = engine
        self.verifier = TargetVerifier(engine.state, engine.verify, engine.retry)

    def run(
        self,
        mappings: list[SecretMapping],
        *,
        dry_run: bool,
        full: bool = False,
        progress: OnProgress | None = None,
    ) -> ReconcileReport:
        tell = progress or _no_progress
        tell("plan", 0, len(mappings))
        known = self._describe_sources(mappings)
        checks = self._checks(mappings, full)
        states = self.engine.state.get_many([m.name for m in mappings])
        planned = self._plan_all(mappings, known, checks, states, tell)
        values = self._fetch([m for m, a in planned if a.action in NEEDS_VALUE])
        final: Planned = []
        for mapping, action in planned:
            if action.action in NEEDS_VALUE:
                target = self.engine.backends.get(mapping.target.backend)
                action = precheck(
                    mapping,
                    action,
                    values.get(mapping.name),
                    target.max_value_size,
                    f"{target.scheme}://",
                )
            final.append((mapping, action))
        report = ReconcileReport(Plan([a for _, a in final]), dry_run)
        report.errors = [a for _, a in final if a.action == "error"]
        if dry_run:
            return report
        tell("apply", 0, len(final))
        for done, (mapping, action) in enumerate(final, 1):
            self._note(mapping, action)
            if action.writes:
                outcome = self._apply(mapping, action, values.get(mapping.name))
                if outcome is not None:
                    report.outcomes.append(outcome)
            tell("apply", done, len(final))
        self._advance(mappings, checks)
        return report

    def _checks(self, mappings: list[SecretMapping], full: bool) -> dict[str, TargetChecks]:
        """Per target backend: read every target, or the change feed since the watermark."""
        found: dict[str, TargetChecks] = {}
        for backend in dict.fromkeys(m.target.backend for m in mappings):
            store = self.engine.backends.get(backend)
            found[backend] = self.verifier.checks(backend, store, full=full)
        return found

    def _advance(self, mappings: list[SecretMapping], checks: dict[str, TargetChecks]) -> None:
        """Move each backend's watermark when this reconcile covered all its mappings."""
        chosen = {m.name for m in mappings}
        for backend, check in checks.items():
            every = {m.name for m in self.engine.mappings if m.target.backend == backend}
            if every <= chosen:
                self.verifier.advance(check)

    def _plan_all(
        self,
        mappings: list[SecretMapping],
        known: Sources,
        checks: dict[str, TargetChecks],
        states: dict[str, MappingState],
        tell: OnProgress,
    ) -> Planned:
        """Every mapping's action, in order: from a target read where there is a reason to
        read it (``READ_WORKERS`` reads at a time), else from its recorded state."""
        owner = self.engine.table.owner
        reasons = [
            self.verifier.why_read(owner, m, checks[m.target.backend], known, states.get(m.name))
            for m in mappings
        ]
        to_read = [m for m, why in zip(mappings, reasons, strict=True) if why is not None]
        unread = len(mappings) - len(to_read)
        tell("plan", unread, len(mappings))
        read: dict[str, PlannedAction] = {}
        with ThreadPoolExecutor(READ_WORKERS, thread_name_prefix="secretsync-read") as pool:
            plans = pool.map(partial(self._plan, known=known), to_read)
            for m, plan in zip(to_read, plans, strict=True):
                read[m.name] = plan
                tell("plan", unread + len(read), len(mappings))
        return [
            (
                m,
                replace(read[m.name], check=f"read: {why}")
                if why is not None
                else self._unread(m, checks, states.get(m.name)),
            )
            for m, why in zip(mappings, reasons, strict=True)
        ]

    def _unread(
        self, mapping: SecretMapping, checks: dict[str, TargetChecks], state: MappingState | None
    ) -> PlannedAction:
        """A no-op planned from the state: the change feed vouches for the target."""
        assert state is not None  # why_read reads a target whenever the state is missing
        return PlannedAction(
            mapping.name,
            "noop",
            "in sync",
            state.source_version,
            state.source_version,
            state.target_version,
            check=self.verifier.not_read(checks[mapping.target.backend]),
        )

    def _describe_sources(self, mappings: list[SecretMapping]) -> Sources:
        """Source descriptions by mapping name (``None``: the source does not exist).

        Mappings whose backend's bulk describe failed are left out; ``_plan`` describes them.
        """
        known: Sources = {}
        for backend, group in group_by_source(mappings).items():
            store = self.engine.backends.get(backend)
            try:
                described = call_with_retry(
                    partial(store.describe_many, [m.source.secret for m in group]),
                    self.engine.retry,
                    operation="secretsync.describe_sources",
                )
            except SkybridgeError:
                continue
            known.update({m.name: described.get(m.source.secret) for m in group})
        return known

    def _plan(self, mapping: SecretMapping, known: Sources) -> PlannedAction:
        source = self.engine.backends.get(mapping.source.backend)
        target = self.engine.backends.get(mapping.target.backend)

        def once() -> PlannedAction:
            if mapping.name in known:
                info = known[mapping.name]
            else:
                info = describe_source(source, mapping.source.secret)
            return plan_mapping(
                self.engine.table.owner, mapping, info, read_target(target, mapping.target.secret)
            )

        try:
            return call_with_retry(once, self.engine.retry, operation="secretsync.plan")
        except SkybridgeError as exc:
            return PlannedAction(mapping.name, "error", str(exc))

    def _fetch(self, mappings: list[SecretMapping]) -> dict[str, SecretVersion]:
        """Current source values of ``mappings``, one batch read per source backend."""
        found: dict[str, SecretVersion] = {}
        for backend, group in group_by_source(mappings).items():
            store = self.engine.backends.get(backend)
            secrets = [m.source.secret for m in group]
            try:
                got = call_with_retry(
                    partial(store.batch_get_values, secrets),
                    self.engine.retry,
                    operation="secretsync.batch_get",
                )
            except SkybridgeError:
                continue  # those mappings become "error: source vanished" in precheck
            for mapping in group:
                if mapping.source.secret in got:
                    found[mapping.name] = got[mapping.source.secret]
        return found

    def _note(self, mapping: SecretMapping, action: PlannedAction) -> None:
        """Keep the drift verdict in the state (written only when it changed)."""
        if action.action == "noop" and action.check.startswith("not read"):
            return  # the feed vouched for it because its state says in-sync: nothing to write
        if action.action == "error":
            self.engine.state.record_error(action.mapping, action.reason)
        elif action.action == "noop" and action.check.startswith("read:"):
            key = settings_key(self.engine.table.owner, mapping)
            known = self.engine.state.get(action.mapping)
            found: dict[str, Any] = {}
            if known is None or known.source_version is None:
                # A target found in sync that this state never wrote (a new state store, or
                # another deployment's write): take its versions and write time from it.
                found = {
                    "source_version": action.source_version,
                    "target_version": action.target_version,
                    "synced_at": action.synced_at,
                }
            self.engine.state.update(action.mapping, drift=action.drift, verified_spec=key, **found)
        elif not action.writes:
            self.engine.state.update(action.mapping, drift=action.drift)

    def _apply(
        self, mapping: SecretMapping, action: PlannedAction, value: SecretVersion | None
    ) -> SyncOutcome | None:
        try:
            outcome = call_with_retry(
                lambda: self._apply_once(mapping, action, value),
                self.engine.retry,
                operation="secretsync.reconcile",
            )
        except SkybridgeError as exc:
            self.engine.state.record_error(mapping.name, str(exc))
            return SyncOutcome(mapping.name, "failed", action.source_version, detail=str(exc))
        if outcome.action in {"created", "updated", "unchanged"}:
            key = settings_key(self.engine.table.owner, mapping)
            self.engine.state.update(mapping.name, verified_spec=key)
        return outcome

    def _apply_once(
        self, mapping: SecretMapping, action: PlannedAction, value: SecretVersion | None
    ) -> SyncOutcome:
        target = self.engine.backends.get(mapping.target.backend)
        secret = mapping.target.secret
        writer = self.engine.writer
        with self.engine.state.lock(mapping.name):
            if action.action in NEEDS_VALUE:
                assert value is not None  # precheck turned missing values into errors
                return writer.write(
                    mapping,
                    target,
                    value,
                    reason=f"reconcile:{action.action}",
                    expect_recorded=action.recorded_version,
                )
            if action.action == "delete-target":
                target.delete(secret)
                verb = "deleted"
            else:
                target.update_metadata(secret, dict.fromkeys(KEYS))
                verb = "orphaned"
        writer.audit(mapping, verb, None, action.target_version, None, action.reason)
        self.engine.state.update(mapping.name, drift="source-deleted", last_error=None)
        return SyncOutcome(mapping.name, verb, None, action.target_version, action.reason)
