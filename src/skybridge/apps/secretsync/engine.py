"""``SecretSync``: the secretsync product as a Python API (the CLI, HTTP and handlers wrap it).

>>> sync = SecretSync(load_table("secretsync.toml"), state=kv.connect("sqlite:///.skybridge/kv.db"))
>>> sync.sync_event(event)             # one EventBridge event -> outcomes per mapping
>>> sync.reconcile(dry_run=True).plan  # what a reconcile would do, and why
>>> sync.status()                      # per mapping: last version, lag, drift, last error

Ordering: AWS version ids carry no order, so "newer" means "current at the source now". Under
the mapping's lock the event's version is read; if it is no longer current (an older event
arrived late, or events raced) the *current* version is synced instead, which is a no-op when
the target already holds it. So a late event can only move the target forward, never back.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from skybridge.apps.secretsync.backends import Backends
from skybridge.apps.secretsync.config import DEFAULT_ATTEMPTS
from skybridge.apps.secretsync.deadletters import DeadLetter, DeadLetters, KvDeadLetters
from skybridge.apps.secretsync.events import (
    IgnoredEvent,
    SecretEvent,
    load_event,
    parse_event,
    read_event,
    shown,
)
from skybridge.apps.secretsync.matching import hint_conflicts, match_mappings
from skybridge.apps.secretsync.model import MappingTable, SecretMapping
from skybridge.apps.secretsync.reconcile import ReconcileReport
from skybridge.apps.secretsync.reconcile_run import OnProgress, Reconciler
from skybridge.apps.secretsync.state import LOCK_WAIT_S, AuditRecord, MappingState, StateStore
from skybridge.apps.secretsync.verify import VerifyPolicy
from skybridge.apps.secretsync.writer import SyncOutcome, TargetWriter
from skybridge.backends import kv
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.secrets import SecretStore, SecretVersion
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import NotFound, SkybridgeError, TransientError, ValidationError
from skybridge.core.observability import get_logger
from skybridge.core.retry import RetryPolicy, call_with_retry

log = get_logger(__name__)
DEFAULT_RETRY = RetryPolicy(attempts=DEFAULT_ATTEMPTS, base_delay=0.2, max_delay=5.0, deadline=60.0)
OnTransient = Literal["dead-letter", "raise"]


@dataclass(frozen=True)
class MappingStatus:
    """One row of ``status()``: safe to show (no values)."""

    name: str
    source: str
    target: str
    last_source_version: str | None
    target_version: str | None
    synced_at: float | None
    lag_seconds: float | None
    drift: str
    last_error: str | None
    last_error_at: float | None
    dead_letters: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReplayResult:
    letter_id: str
    ok: bool
    outcomes: tuple[SyncOutcome, ...] = ()
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outcomes": [o.to_dict() for o in self.outcomes]}


def _default_actor() -> str:
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or f"secretsync@{socket.gethostname()}"


class SecretSync:
    """Syncs the secrets of a :class:`MappingTable`.

    Args:
        table: the mappings.
        state: key-value store for state, locks, audit and (by default) dead letters, or its
            URL (``sqlite:///kv.db``), which is connected here and closed by :meth:`close`.
        dead_letters: where failed events go (default: :class:`KvDeadLetters` on ``state``).
        stores: ready ``secrets`` stores by backend name or URL (others are connected).
        backend_options: extra connect options by backend name.
        retry: retries of transient errors per event before it is dead-lettered.
        actor: who writes, for the audit log (default: Lambda function name or host).
        lock_wait: seconds an event waits for another worker syncing the same mapping.
        verify: how reconcile uses a target store's change feed (overlap, full sweeps).
    """

    def __init__(
        self,
        table: MappingTable,
        *,
        state: KeyValueStore | str,
        dead_letters: DeadLetters | None = None,
        stores: Mapping[str, SecretStore] | None = None,
        backend_options: Mapping[str, Mapping[str, Any]] | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        clock: Clock = SYSTEM_CLOCK,
        actor: str | None = None,
        lock_wait: float = LOCK_WAIT_S,
        verify: VerifyPolicy | None = None,
    ) -> None:
        self.table = table
        self.verify = verify or VerifyPolicy()
        self.clock = clock
        self.retry = retry
        store = _state_store(state)
        #: A store connected from a URL here is ours to close.
        self._owned_state = store if store is not state else None
        self.state = StateStore(store, clock=clock, lock_wait=lock_wait)
        self.dead_letters: DeadLetters = dead_letters or KvDeadLetters(store, clock=clock)
        self.backends = Backends(table, stores=stores, options=backend_options, clock=clock)
        self.writer = TargetWriter(
            owner=table.owner, state=self.state, clock=clock, actor=actor or _default_actor()
        )
        self._reconciler = Reconciler(self)

    @property
    def mappings(self) -> list[SecretMapping]:
        return list(self.table.mappings)

    def close(self) -> None:
        """Close the stores connected here (those passed in stay open)."""
        self.backends.close()
        if self._owned_state is not None:
            self._owned_state.close()

    # -- events ----------------------------------------------------------------------------
    def match(self, event: SecretEvent) -> list[SecretMapping]:
        """The mappings whose source is the event's secret: by name, partial or full ARN
        (see :mod:`skybridge.apps.secretsync.matching`)."""
        return match_mappings(self.table, event)

    def sync_event(
        self, event: Any, *, on_transient: OnTransient = "dead-letter"
    ) -> list[SyncOutcome]:
        """Sync every mapping the event concerns.

        Args:
            event: an EventBridge event (dict, JSON text or bytes) or a :class:`SecretEvent`.
            on_transient: after the retries, ``dead-letter`` the event or ``raise`` the
                :class:`TransientError` (an SQS consumer lets the queue redeliver).

        Returns:
            One outcome per matching mapping. An event that needs no sync (another label, a
            call that makes no value current, no mapping has its secret) gives one outcome
            ``ignored`` for mapping ``-`` with the reason. Events that fail permanently are
            dead-lettered (``action == "dead-lettered"``).
        """
        if isinstance(event, SecretEvent):
            raw: Mapping[str, Any] = event.raw
            parsed: SecretEvent | IgnoredEvent = event
        else:
            try:
                raw = load_event(event)
            except ValidationError as exc:
                return [self._dead_letter({"unparsed": _preview(event)}, None, exc, 1)]
            try:
                parsed = read_event(raw)
            except ValidationError as exc:
                return [self._dead_letter(raw, None, exc, 1)]
        if isinstance(parsed, IgnoredEvent):
            log.info(
                "secretsync.ignored",
                kind=parsed.kind,
                secret=shown(parsed.secret) if parsed.secret else None,
                reason=parsed.reason,
            )
            return [SyncOutcome("-", "ignored", detail=parsed.reason)]
        mappings = self.match(parsed)
        if not mappings:
            log.info("secretsync.unmapped", kind=parsed.kind, secret=shown(parsed.secret))
            why = f"no mapping has the source {shown(parsed.secret)}"
            return [SyncOutcome("-", "ignored", detail=why)]
        return [self._sync_event_mapping(m, parsed, raw, on_transient) for m in mappings]

    def _sync_event_mapping(
        self,
        mapping: SecretMapping,
        event: SecretEvent,
        raw: Mapping[str, Any],
        on_transient: OnTransient,
    ) -> SyncOutcome:
        attempts = 0
        when = event.time.timestamp() if isinstance(event.time, datetime) else None

        def once() -> SyncOutcome:
            nonlocal attempts
            attempts += 1
            return self._sync_once(mapping, event.version_id, when, f"event:{event.kind}")

        try:
            outcome = call_with_retry(once, self.retry, operation="secretsync.sync")
        except TransientError as exc:
            if on_transient == "raise":
                self.state.record_error(mapping.name, exc.message)
                raise
            return self._dead_letter(raw, mapping, exc, attempts)
        except SkybridgeError as exc:
            return self._dead_letter(raw, mapping, exc, attempts)
        return self._note_hints(mapping, event, outcome)

    def _note_hints(
        self, mapping: SecretMapping, event: SecretEvent, outcome: SyncOutcome
    ) -> SyncOutcome:
        """Report the event's OCI hints that contradict the table (the table was followed)."""
        conflicts = hint_conflicts(self.table, mapping, event.target_hints)
        if not conflicts:
            return outcome
        log.warning(
            "secretsync.event_target_ignored",
            mapping=mapping.name,
            fields=sorted(conflicts),
            reason="the mapping table chooses the target; the event's oci_* fields are ignored",
        )
        by_reason: dict[str, list[str]] = {}
        for key, why in conflicts.items():
            by_reason.setdefault(why, []).append(key)
        note = "; ".join(
            f"ignored the event's {', '.join(keys)}: {why}" for why, keys in by_reason.items()
        )
        return replace(outcome, detail=f"{outcome.detail}; {note}" if outcome.detail else note)

    def _sync_once(
        self, mapping: SecretMapping, version_id: str | None, when: float | None, reason: str
    ) -> SyncOutcome:
        source = self.backends.get(mapping.source.backend)
        target = self.backends.get(mapping.target.backend)
        with self.state.lock(mapping.name):
            version, stale = self._read_source(source, mapping, version_id)
            outcome = self.writer.write(mapping, target, version, event_time=when, reason=reason)
        if stale and outcome.action == "unchanged":
            return replace(
                outcome,
                action="stale",
                detail=f"version {version_id} is no longer current at the source; "
                f"target already holds the current version {version.version_id}",
            )
        return outcome

    @staticmethod
    def _read_source(
        source: SecretStore, mapping: SecretMapping, version_id: str | None
    ) -> tuple[SecretVersion, bool]:
        """The version to sync and whether the asked-for one was stale (no longer current)."""
        secret = mapping.source.secret
        if version_id is None:
            return source.get_value(secret), False
        try:
            version = source.get_value(secret, version_id=version_id)
        except NotFound:  # the version is gone (pruned): certainly not current any more
            return source.get_value(secret), True
        if version.version.is_current:
            return version, False
        return source.get_value(secret), True

    def _dead_letter(
        self,
        raw: Mapping[str, Any],
        mapping: SecretMapping | None,
        exc: SkybridgeError,
        attempts: int,
    ) -> SyncOutcome:
        name = mapping.name if mapping else None
        letter = self.dead_letters.put(
            raw, reason=str(exc), error_type=type(exc).__name__, mapping=name, attempts=attempts
        )
        if name:
            self.state.record_error(name, str(exc))
        log.warning(
            "secretsync.dead_lettered",
            mapping=name,
            error_type=type(exc).__name__,
            reason=str(exc),
            letter_id=letter.letter_id,
        )
        return SyncOutcome(
            name or "-", "dead-lettered", detail=str(exc), letter_id=letter.letter_id
        )

    # -- on demand -------------------------------------------------------------------------
    def sync_mapping(self, name: str, *, version_id: str | None = None) -> SyncOutcome:
        """Sync one mapping now (its current source version, or ``version_id``).

        Raises:
            NotFound: no mapping called ``name``.
            SkybridgeError: the sync failed after retries (recorded as the mapping's last error).
        """
        mapping = self._mapping(name)
        try:
            return call_with_retry(
                lambda: self._sync_once(mapping, version_id, None, "manual"),
                self.retry,
                operation="secretsync.sync",
            )
        except SkybridgeError as exc:
            self.state.record_error(name, str(exc))
            raise

    def reconcile(
        self,
        *,
        dry_run: bool = False,
        mappings: list[str] | None = None,
        full: bool = False,
        progress: OnProgress | None = None,
    ) -> ReconcileReport:
        """Compare sources and targets; repair drift per policy unless ``dry_run``.

        ``full`` reads every target even where a change feed vouches for it. ``progress`` is
        told ``(phase, done, total)`` as it goes: ``plan``, then (unless ``dry_run``)
        ``apply``, each counting mappings.
        """
        chosen = [self._mapping(n) for n in mappings] if mappings else self.mappings
        return self._reconciler.run(chosen, dry_run=dry_run, full=full, progress=progress)

    def status(self) -> list[MappingStatus]:
        """One row per mapping (the states read in one batch)."""
        letters = Counter(letter.mapping for letter in self.dead_letters.list())
        states = self.state.get_many([m.name for m in self.table.mappings])
        rows = []
        for mapping in self.table.mappings:
            state = states.get(mapping.name) or MappingState(mapping.name)
            rows.append(
                MappingStatus(
                    name=mapping.name,
                    source=str(mapping.source),
                    target=str(mapping.target),
                    last_source_version=state.source_version,
                    target_version=state.target_version,
                    synced_at=state.synced_at,
                    lag_seconds=state.lag_seconds,
                    drift=state.drift,
                    last_error=state.last_error,
                    last_error_at=state.last_error_at,
                    dead_letters=letters[mapping.name],
                )
            )
        return rows

    def audit_log(self, mapping: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """Writes to targets, newest first (never values); only ``mapping``'s when given.

        Raises:
            NotFound: no mapping called ``mapping``.
        """
        if mapping is not None:
            self._mapping(mapping)
        return self.state.audit_log(mapping, limit)

    # -- dead letters ----------------------------------------------------------------------
    def list_dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        return self.dead_letters.list(limit)

    def replay(self, letter_ids: list[str] | None = None) -> list[ReplayResult]:
        """Retry dead letters (all when ``letter_ids`` is ``None``); successes are removed."""
        ids = (
            letter_ids
            if letter_ids is not None
            else [x.letter_id for x in self.dead_letters.list()]
        )
        return [self._replay_one(ident) for ident in ids]

    def _replay_one(self, ident: str) -> ReplayResult:
        letter = self.dead_letters.replay(ident)
        try:
            parsed = parse_event(letter.event)
            if parsed is None:
                self.dead_letters.remove(ident)
                return ReplayResult(ident, True, detail="event needs no sync")
            if letter.mapping is not None:
                targets = [self._mapping(letter.mapping)]
            else:
                targets = self.match(parsed)
            outcomes = tuple(self._replay_mapping(m, parsed) for m in targets)
        except SkybridgeError as exc:
            again = self.dead_letters.put(
                letter.event,
                reason=str(exc),
                error_type=type(exc).__name__,
                mapping=letter.mapping,
            )
            if again.letter_id != ident:  # a store that appends: the old letter is done
                self.dead_letters.remove(ident)
            return ReplayResult(ident, False, detail=str(exc))
        self.dead_letters.remove(ident)
        return ReplayResult(ident, True, outcomes)

    def _replay_mapping(self, mapping: SecretMapping, event: SecretEvent) -> SyncOutcome:
        when = event.time.timestamp() if event.time else None
        return call_with_retry(
            lambda: self._sync_once(mapping, event.version_id, when, "replay"),
            self.retry,
            operation="secretsync.replay",
        )

    def _mapping(self, name: str) -> SecretMapping:
        try:
            return self.table.mapping(name)
        except KeyError:
            raise NotFound(f"no mapping called '{name}'") from None


def _state_store(state: object) -> KeyValueStore:
    """``state`` as a kv store: connected when it is a URL.

    Raises:
        ValidationError: neither a :class:`KeyValueStore` nor a URL.
        ConfigError: a URL no kv backend can use (the message names ``state``).
    """
    if isinstance(state, KeyValueStore):
        return state
    if isinstance(state, str):
        return kv.connect(state, setting="state")
    raise ValidationError(
        f"state must be a kv store or a kv URL, got {type(state).__name__}",
        hint='pass kv.connect("sqlite:///kv.db") or the URL itself',
    )


def _preview(event: Any) -> str:
    text = event.decode("utf-8", "replace") if isinstance(event, bytes | bytearray) else str(event)
    return text[:2000]
