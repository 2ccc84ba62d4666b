"""Sync state, per-mapping locks and the audit log, kept in a ``kv`` store.

Keys (all under ``secretsync/``): ``state/<mapping>`` (JSON :class:`MappingState`),
``lock/<mapping>`` (a short-lived lease taken with compare-and-set, JSON naming its holder
process), and
``audit/<microseconds>-<random>`` (JSON :class:`AuditRecord`, time-ordered). No value ever
stored here is a secret value: only version ids, hash prefixes, times and reasons.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from skybridge.backends.kv import KeyValueStore
from skybridge.core.clock import SYSTEM_CLOCK, Clock, when
from skybridge.core.errors import Conflict, TransientError
from skybridge.core.observability import get_logger
from skybridge.core.secret import scrub
from skybridge.runtime.holders import describe, holder_gone, this_process

log = get_logger(__name__)

PREFIX = "secretsync/"
LOCK_TTL_S = 60.0
#: How long a writer waits for another writer of the same mapping before giving up.
LOCK_WAIT_S = 5.0


@dataclass(frozen=True)
class MappingState:
    """What we know about one mapping's last sync and check."""

    mapping: str
    source_version: str | None = None
    target_version: str | None = None
    sha256_prefix: str | None = None
    synced_at: float | None = None
    lag_seconds: float | None = None
    #: ``in-sync``, ``source-changed``, ``target-edited``, ``source-deleted``,
    #: ``target-missing``, ``refused``, ``error`` or ``unknown``.
    drift: str = "unknown"
    checked_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    #: ``verify.settings_key`` of the mapping when a reconcile last found it in sync.
    verified_spec: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MappingState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class AuditRecord:
    """One write to a target (never the value)."""

    at: float
    actor: str
    mapping: str
    action: str
    target: str
    source_version: str | None
    target_version: str | None
    sha256_prefix: str | None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StateStore:
    """State, locks and audit records of secretsync in one key-value store."""

    def __init__(
        self, kv: KeyValueStore, *, clock: Clock = SYSTEM_CLOCK, lock_wait: float = LOCK_WAIT_S
    ) -> None:
        self.kv = kv
        self.clock = clock
        self.lock_wait = lock_wait

    # -- state -----------------------------------------------------------------------------
    def get(self, mapping: str) -> MappingState | None:
        data = self.kv.get_json(f"{PREFIX}state/{mapping}")
        return MappingState.from_json(data) if isinstance(data, dict) else None

    def get_many(self, mappings: list[str]) -> dict[str, MappingState]:
        """The states of ``mappings`` that have one, read in one batch."""
        keys = {f"{PREFIX}state/{m}": m for m in mappings}
        found = self.kv.get_many(keys)
        states = {keys[k]: json.loads(v) for k, v in found.items()}
        return {m: MappingState.from_json(d) for m, d in states.items() if isinstance(d, dict)}

    def put(self, state: MappingState) -> None:
        self.kv.put_json(f"{PREFIX}state/{state.mapping}", asdict(state))

    def update(self, mapping: str, **changes: Any) -> MappingState:
        """Merge ``changes`` into the mapping's state; writes only when something changed."""
        current = self.get(mapping) or MappingState(mapping)
        updated = replace(current, **changes)
        if updated != current:
            self.put(updated)
        return updated

    def record_error(self, mapping: str, reason: str) -> None:
        self.update(
            mapping, last_error=scrub(reason)[:500], last_error_at=self.clock.now(), drift="error"
        )

    # -- locks -----------------------------------------------------------------------------
    @contextmanager
    def lock(self, mapping: str) -> Iterator[None]:
        """Hold the mapping's lease, waiting up to ``lock_wait`` seconds for another holder.

        Writers of one mapping take turns, so a read-check-write cannot interleave with
        another. The lease names its holder (:func:`~skybridge.runtime.holders.this_process`):
        one left by a process of this host that no longer runs (killed outright) is taken over
        at once; any other lease runs out ``LOCK_TTL_S`` seconds after it was taken.

        Raises:
            TransientError: still held by another writer after ``lock_wait`` seconds (the
                message names the holder and when its lease runs out).
        """
        key = f"{PREFIX}lock/{mapping}"
        mine = json.dumps({"holder": this_process(), "token": uuid.uuid4().hex}).encode()
        deadline = time.monotonic() + self.lock_wait
        while (version := self._take(key, mine, mapping)) is None:
            if time.monotonic() >= deadline:
                raise self._busy(mapping, key)
            time.sleep(random.uniform(0.005, 0.03))
        try:
            yield
        finally:
            self._release(key, mine, version)

    def _take(self, key: str, mine: bytes, mapping: str) -> int | None:
        """Our lease's kv version: the lease was free, or its holder is gone; else ``None``."""
        try:
            return self.kv.compare_and_set(key, mine, 0, ttl=LOCK_TTL_S)
        except Conflict:
            item = self.kv.get_item(key)
        if item is None:  # given back meanwhile: the next try takes it
            return None
        holder = _holder(item.value)
        if holder is None or not holder_gone(holder):
            return None
        try:  # from the version we judged: two takers of one dead holder's lease, one wins
            version = self.kv.compare_and_set(key, mine, item.version, ttl=LOCK_TTL_S)
        except Conflict:
            return None
        log.warning("secretsync.lease_taken_over", mapping=mapping, holder=holder)
        return version

    def _release(self, key: str, mine: bytes, version: int) -> None:
        item = self.kv.get_item(key)
        if item is None or item.value != mine:
            return  # expired and taken over meanwhile: nothing of ours to release
        with suppress(Conflict):
            self.kv.delete(key, expected_version=version)

    def _busy(self, mapping: str, key: str) -> TransientError:
        item = self.kv.get_item(key)
        holder = _holder(item.value) if item else None
        who = describe(holder) if holder else "a worker that does not name itself"
        if item and item.expires_at:
            until = f"until {when(item.expires_at, seconds=True)}"
        else:
            until = f"for at most {LOCK_TTL_S:.0f} s after it took it"
        return TransientError(
            f"mapping '{mapping}' is being synced by another worker: {who} holds its lease {until}",
            hint="the holder may be a process stopped on another host or in another "
            "container, which keeps the lease until it expires; one stopped on this host "
            "is taken over at once",
            retry_after=0.1,
        )

    # -- audit -----------------------------------------------------------------------------
    def audit(self, record: AuditRecord) -> None:
        key = f"{PREFIX}audit/{int(record.at * 1_000_000):020d}-{uuid.uuid4().hex[:8]}"
        self.kv.put_json(key, asdict(record))

    def audit_log(self, mapping: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """Newest first."""
        records = [
            AuditRecord(**json.loads(item.value)) for item in self.kv.scan_prefix(f"{PREFIX}audit/")
        ]
        if mapping is not None:
            records = [r for r in records if r.mapping == mapping]
        return list(reversed(records))[:limit]


def _holder(value: bytes) -> str | None:
    """The holder a lease record names (``None``: a record of an older version, unnamed)."""
    with suppress(ValueError, AttributeError):
        holder = json.loads(value).get("holder")
        return holder if isinstance(holder, str) else None
    return None
