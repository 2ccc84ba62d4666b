"""Reconcile: compare every mapping's source and target, then repair what drifted.

Cost per mapping when nothing changed: the source's current version id (a share of one
``describe_many`` per source backend: a ``DescribeSecret`` each, or a share of one
``ListSecrets`` page when 20 or more mappings read one AWS backend) and one read of the target
(value and metadata in one OCI bundle), unless the target store has a change feed: then the
target is read only when :mod:`~skybridge.apps.secretsync.verify` says so. Source values are fetched
with ``batch_get_values`` only for the mappings that need a write, and nothing is written when
nothing changed. ``dry_run`` stops after the plan.

Each planned action records what the target held when planned; the write re-checks it under
the mapping's lock, so a reconcile never overwrites a newer version an event wrote meanwhile.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from skybridge.apps.secretsync.model import Deletion, DriftPolicy, SecretMapping
from skybridge.apps.secretsync.ownership import ownership_problem
from skybridge.apps.secretsync.transform import build_payload, check_size
from skybridge.apps.secretsync.writer import TargetView
from skybridge.backends.secrets import SecretVersion
from skybridge.core.errors import NotFound, SkybridgeError

#: Actions that write the target.
WRITES = frozenset({"create", "update", "repair", "delete-target", "orphan-target"})
_DRIFT = {
    "create": "target-missing",
    "update": "source-changed",
    "repair": "target-edited",
    "report": "target-edited",
    "refuse": "refused",
    "retain": "source-deleted",
    "delete-target": "source-deleted",
    "orphan-target": "source-deleted",
    "noop": "in-sync",
    "error": "error",
}


@dataclass(frozen=True)
class PlannedAction:
    """One mapping's verdict: what reconcile will do (or did) and why."""

    mapping: str
    action: str
    reason: str
    source_version: str | None = None
    recorded_version: str | None = None
    target_version: str | None = None
    #: Whether and why the target was read: ``read: source changed``, ``read: full sweep``,
    #: ``read: changed in audit (...)``, ``not read: no unexplained change ...``.
    check: str = ""
    #: When the target's recorded version was written, per its metadata (a read target only).
    synced_at: float | None = None

    @property
    def writes(self) -> bool:
        return self.action in WRITES

    @property
    def drift(self) -> str:
        return _DRIFT[self.action]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "writes": self.writes, "drift": self.drift}


@dataclass
class Plan:
    """Every mapping's planned action."""

    actions: list[PlannedAction] = field(default_factory=list)

    @property
    def changes(self) -> list[PlannedAction]:
        return [a for a in self.actions if a.writes]

    def to_dict(self) -> dict[str, Any]:
        return {"actions": [a.to_dict() for a in self.actions], "changes": len(self.changes)}


@dataclass
class ReconcileReport:
    """The plan, and (unless a dry run) what was done."""

    plan: Plan
    dry_run: bool
    outcomes: list[Any] = field(default_factory=list)
    errors: list[PlannedAction] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return sum(1 for o in self.outcomes if o.wrote)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "plan": self.plan.to_dict(),
            "outcomes": [o.to_dict() for o in self.outcomes],
            "errors": [e.to_dict() for e in self.errors],
            "writes": self.writes,
        }


def plan_mapping(
    owner: str, mapping: SecretMapping, source_info: Any, view: TargetView
) -> PlannedAction:
    """The action for one mapping, from the source description and one target read."""
    name = mapping.name
    recorded = view.recorded
    if source_info is None or source_info.pending_deletion:
        return _plan_deleted(owner, mapping, view)
    current = source_info.current_version_id
    target_version = view.current.version_id if view.current else None

    def act(action: str, reason: str) -> PlannedAction:
        return PlannedAction(
            name,
            action,
            reason,
            current,
            recorded.source_version,
            target_version,
            synced_at=recorded.synced_at,
        )

    if view.current is None:
        return act("create", "target does not exist")
    problem = ownership_problem(owner, mapping, recorded)
    if problem:
        return act("refuse", problem)
    if recorded.spec != mapping.transform_fingerprint():
        return act("update", "the mapping's fields/rename/binary settings changed")
    if recorded.source_version != current:
        return act(
            "update",
            f"source is at version {current}, target records {recorded.source_version}",
        )
    if view.current.sha256() != recorded.sha256:
        verb = "repair" if mapping.drift is DriftPolicy.REPAIR else "report"
        return act(verb, "target value was changed outside secretsync (hash mismatch)")
    return act("noop", "in sync")


def _plan_deleted(owner: str, mapping: SecretMapping, view: TargetView) -> PlannedAction:
    name = mapping.name
    target_version = view.current.version_id if view.current else None
    if view.current is None:
        return PlannedAction(name, "noop", "source and target are both gone")
    if ownership_problem(owner, mapping, view.recorded) and not mapping.adopt:
        return PlannedAction(name, "noop", "source is gone; target is not managed by us")
    verdict = {
        Deletion.RETAIN: ("retain", "source was deleted; deletion = retain keeps the target"),
        Deletion.DELETE: ("delete-target", "source was deleted; deletion = delete"),
        Deletion.ORPHAN: ("orphan-target", "source was deleted; deletion = orphan"),
    }[mapping.deletion]
    return PlannedAction(
        name, verdict[0], verdict[1], None, view.recorded.source_version, target_version
    )


def describe_source(store: Any, secret: str) -> Any:
    """The source's description, or ``None`` when it does not exist."""
    try:
        return store.describe(secret)
    except NotFound:
        return None


def precheck(
    mapping: SecretMapping,
    planned: PlannedAction,
    value: SecretVersion | None,
    limit: int,
    where: str,
) -> PlannedAction:
    """Turn a write into an ``error`` when its payload cannot be written (size, JSON)."""
    if value is None:
        return replace(planned, action="error", reason="source secret vanished while planning")
    try:
        check_size(mapping, build_payload(mapping, value.value), limit, where)
    except SkybridgeError as exc:
        return replace(planned, action="error", reason=exc.message)
    return replace(planned, source_version=value.version_id)


def group_by_source(mappings: list[SecretMapping]) -> dict[str, list[SecretMapping]]:
    groups: dict[str, list[SecretMapping]] = defaultdict(list)
    for mapping in mappings:
        groups[mapping.source.backend].append(mapping)
    return groups
