"""Writing one source version to one target: the only code path that writes a target.

Per write: build the payload, pre-check its size, read the target once (the OCI bundle carries
the metadata), refuse foreign targets, skip when the target already holds this source version
with this payload, prune old versions, then write the version *named after the source
VersionId* with the ownership metadata in the same call. A redelivered event therefore finds
the version already there and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from skybridge.apps.secretsync.model import SecretMapping
from skybridge.apps.secretsync.ownership import (
    Recorded,
    check_ownership,
    ownership_metadata,
)
from skybridge.apps.secretsync.state import AuditRecord, StateStore
from skybridge.apps.secretsync.transform import build_payload, check_size
from skybridge.backends.secrets import (
    SecretStore,
    SecretValue,
    SecretVersion,
    VersionExists,
    VersionLimitReached,
)
from skybridge.core.clock import Clock
from skybridge.core.errors import Conflict, NotFound, TerminalError
from skybridge.core.observability import get_logger

log = get_logger(__name__)
_IDS = ("ocid1.", "arn:")
#: Suffixes tried when the source went back to a version the target already holds as old.
_REWRITES = 8
#: ``expect_recorded`` default: no expectation.
ANY = object()


@dataclass(frozen=True)
class SyncOutcome:
    """What happened to one mapping for one event, replay or reconcile step.

    ``action``: ``created``, ``updated``, ``unchanged``, ``stale`` (an older version arrived
    after a newer one; nothing written), ``dead-lettered`` (``letter_id`` names the letter),
    ``deleted``/``orphaned`` (the source was deleted), ``failed`` (a reconcile step that
    failed) or ``ignored`` (an event that needs no sync: mapping ``-``, the reason in
    ``detail``).
    """

    mapping: str
    action: str
    source_version: str | None = None
    target_version: str | None = None
    detail: str = ""
    letter_id: str | None = None

    @property
    def wrote(self) -> bool:
        return self.action in {"created", "updated", "deleted", "orphaned"}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TargetView:
    """The target's current version (``None``: no such secret) and its recorded metadata."""

    current: SecretVersion | None
    recorded: Recorded


def read_target(store: SecretStore, secret: str) -> TargetView:
    """One read of the target: value and metadata (a second call only where reads lack it)."""
    try:
        current = store.get_value(secret)
    except NotFound:
        return TargetView(None, Recorded.from_metadata({}))
    metadata: Mapping[str, str] | None = current.metadata
    if metadata is None:
        metadata = store.describe(secret).metadata
    return TargetView(current, Recorded.from_metadata(metadata))


class TargetWriter:
    """Applies source versions to targets and records state and audit."""

    def __init__(self, *, owner: str, state: StateStore, clock: Clock, actor: str) -> None:
        self.owner, self.state, self.clock, self.actor = owner, state, clock, actor

    def write(
        self,
        mapping: SecretMapping,
        target: SecretStore,
        source: SecretVersion,
        *,
        event_time: float | None = None,
        reason: str = "event",
        expect_recorded: str | object | None = ANY,
    ) -> SyncOutcome:
        """Make the target hold ``source`` (transformed); see the module docstring.

        ``expect_recorded``: write only if the target still records this source version
        (reconcile passes what it planned with; otherwise it returns ``stale``).
        """
        payload = build_payload(mapping, source.value)
        check_size(mapping, payload, target.max_value_size, f"{target.scheme}://")
        sha = payload.sha256()
        secret = mapping.target.secret
        view = read_target(target, secret)
        if expect_recorded is not ANY and view.recorded.source_version != expect_recorded:
            return SyncOutcome(
                mapping.name,
                "stale",
                source.version_id,
                view.current.version_id if view.current else None,
                "target changed since it was planned; left for the next reconcile",
            )
        if view.current is not None:
            check_ownership(self.owner, mapping, view.recorded)
            if self._holds(mapping, view, source.version_id, sha):
                self._record(mapping, source, view.current.version_id, sha, event_time, False)
                return SyncOutcome(
                    mapping.name, "unchanged", source.version_id, view.current.version_id
                )
        now = self.clock.now()
        meta = ownership_metadata(
            self.owner, mapping, source.secret.secret_id, source.version_id, sha, now
        )
        if view.current is None:
            written = self._create(target, mapping, payload, source.version_id, meta)
            action = "created"
        else:
            if _may_be_full(target, view.current):
                self._prune(target, secret)
            written = self._put(target, secret, payload, source.version_id, meta)
            action = "updated"
        self._record(mapping, source, written.version_id, sha, event_time, True)
        self.audit(mapping, action, source.version_id, written.version_id, sha[:12], reason)
        return SyncOutcome(mapping.name, action, source.version_id, written.version_id, reason)

    def audit(
        self,
        mapping: SecretMapping,
        action: str,
        source_version: str | None,
        target_version: str | None,
        sha_prefix: str | None,
        reason: str,
    ) -> None:
        """Append an audit record and log the write (ids and hash prefix, never the value)."""
        self.state.audit(
            AuditRecord(
                at=self.clock.now(),
                actor=self.actor,
                mapping=mapping.name,
                action=action,
                target=str(mapping.target),
                source_version=source_version,
                target_version=target_version,
                sha256_prefix=sha_prefix,
                reason=reason,
            )
        )
        log.info(
            "secretsync.write",
            mapping=mapping.name,
            action=action,
            source_version=source_version,
            target_version=target_version,
            reason=reason,
        )

    def _holds(self, mapping: SecretMapping, view: TargetView, version: str, sha: str) -> bool:
        recorded, current = view.recorded, view.current
        return (
            current is not None
            and recorded.source_version == version
            and recorded.sha256 == sha
            and current.sha256() == sha
            and recorded.spec == mapping.transform_fingerprint()
        )

    def _create(
        self,
        target: SecretStore,
        mapping: SecretMapping,
        payload: SecretValue,
        version_id: str,
        meta: dict[str, str],
    ) -> SecretVersion:
        name = mapping.target.secret
        if name.startswith(_IDS):
            raise TerminalError(
                f"mapping '{mapping.name}': target {mapping.target} does not exist",
                hint="create it first, or name the target by name so secretsync can create it",
            )
        return target.create(
            name,
            payload,
            version_id=version_id,
            description=f"synced by secretsync mapping {mapping.name}",
            metadata=meta,
        )

    def _put(
        self,
        target: SecretStore,
        secret: str,
        payload: SecretValue,
        version_id: str,
        meta: dict[str, str],
    ) -> SecretVersion:
        # The version name may already exist as an *old* version: the source went back to it
        # (UpdateSecretVersionStage) or the target was edited elsewhere. Writing the same name
        # is a no-op, so write it again under a derived name to make it current.
        candidate = version_id
        pruned = False
        for attempt in range(1, _REWRITES + 1):
            try:
                written = target.put_value(secret, payload, version_id=candidate, metadata=meta)
            except VersionExists:
                written = None
            except VersionLimitReached:
                # Newer non-current versions can fill the target although the current
                # version's number looked young: make room once and write again.
                if pruned:
                    raise
                self._prune(target, secret)
                pruned = True
                written = target.put_value(secret, payload, version_id=candidate, metadata=meta)
            if written is not None and written.version.is_current:
                return written
            candidate = f"{version_id[:56]}.r{attempt}"
        raise Conflict(f"could not make a current version of target '{secret}'")

    @staticmethod
    def _prune(target: SecretStore, secret: str) -> None:
        limit = target.max_active_versions
        if limit is None or not target.supports("version_deletion"):
            return
        pruned = target.prune_versions(secret, max_active=limit - 1)
        if pruned:
            log.info("secretsync.pruned", target=secret, versions=len(pruned))

    def _record(
        self,
        mapping: SecretMapping,
        source: SecretVersion,
        target_version: str,
        sha: str,
        event_time: float | None,
        wrote: bool,
    ) -> None:
        now = self.clock.now()
        changes: dict[str, Any] = {
            "source_version": source.version_id,
            "target_version": target_version,
            "sha256_prefix": sha[:12],
            "drift": "in-sync",
            "last_error": None,
            "last_error_at": None,
        }
        if wrote:
            created = source.version.created
            started = event_time or (created.timestamp() if created else None)
            changes["synced_at"] = now
            changes["lag_seconds"] = round(now - started, 3) if started else None
            changes["checked_at"] = now
        self.state.update(mapping.name, **changes)


def _may_be_full(target: SecretStore, current: SecretVersion) -> bool:
    """Whether the target may be at its active-version limit before this write.

    Versions are numbered from 1, so a secret whose current version is number ``n`` has at
    most ``n`` active versions: a young secret needs no version listing before each write
    (two calls saved per event). Without numbers (or a limit), keep the old rule: prune first.
    """
    limit = target.max_active_versions
    if limit is None or not target.supports("version_deletion"):
        return False
    number = current.version.number
    return number is None or number >= limit - 1
