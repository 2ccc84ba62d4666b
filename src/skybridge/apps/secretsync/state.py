"""Sync state, per-mapping locks and the audit log, kept in a ``kv`` store.

Keys (all under ``secretsync/``): ``state/<mapping>`` (JSON :class:`MappingState`),
``lock/<mapping>`` (a short-lived lease taken with compare-and-set, JSON naming its holder
process and the take's random token), and
``audit/<microseconds>-<random>`` (JSON :class:`AuditRecord`, time-ordered). No value ever
stored here is a secret value: only version ids, hash prefixes, times and reasons.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
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
AUDIT_PREFIX = f"{PREFIX}audit/"
#: Past every audit key's time (keys hold 20 digits of microseconds).
_AUDIT_END = 10**20
LOCK_TTL_S = 60.0
#: How long a writer waits for another writer of the same mapping before giving up.
LOCK_WAIT_S = 5.0
#: Seconds back from now of the first window :meth:`StateStore.audit_log` reads; each further
#: window reaches :data:`AUDIT_WINDOW_GROWTH` times as far back.
AUDIT_WINDOW_S = 60.0
AUDIT_WINDOW_GROWTH = 8
#: Tokens of the mapping leases this process left in kv (any ``StateStore``, any thread): a take
#: or a release whose kv call failed, though it may have written. Nothing holds such a lease, so
#: this process's next take of the mapping takes it over at once. Each token is drawn at random
#: for one take, so only the process that drew it knows it: a process with the same holder name
#: (one restored from the same VM snapshot: same host, boot, pid and start time) never takes a
#: lease of another for its own. By token, with when it was left (``time.monotonic()``).
_LEFT: dict[str, float] = {}
_LEFT_LOCK = threading.Lock()
#: Seconds a left token is kept: its lease runs out ``LOCK_TTL_S`` after it was written, and
#: a write whose call failed may land late.
_LEFT_KEPT_S = 2 * LOCK_TTL_S


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
        at once, and so is one this process left when a kv call failed as it took or gave
        back the lease (told by the token drawn for that take, never by the holder name alone:
        processes restored from one VM snapshot share it); any other lease runs out
        ``LOCK_TTL_S`` seconds after it was taken.
        Giving the lease back is best effort (a failure is logged, not raised over the body's
        outcome).

        Raises:
            TransientError: still held by another writer after ``lock_wait`` seconds (the
                message names the holder and when its lease runs out).
        """
        key = f"{PREFIX}lock/{mapping}"
        token = uuid.uuid4().hex
        mine = json.dumps({"holder": this_process(), "token": token}).encode()
        deadline = time.monotonic() + self.lock_wait
        gone = False  # whether our lease is known not to be in kv
        try:
            while (version := self._take(key, mine, mapping)) is None:
                if time.monotonic() >= deadline:
                    gone = True  # every try was refused without writing
                    raise self._busy(mapping, key)
                time.sleep(random.uniform(0.005, 0.03))
            try:
                yield
            finally:
                gone = self._release(key, mine, version, mapping)
        finally:
            if not gone:  # a kv call failed: the lease may be there, ours to take over
                _leave(token)

    def _take(self, key: str, mine: bytes, mapping: str) -> int | None:
        """Our lease's kv version: the lease was free, or its holder is gone or is this process
        and left it (:func:`_left_here`); else ``None``."""
        try:
            return self.kv.compare_and_set(key, mine, 0, ttl=LOCK_TTL_S)
        except Conflict:
            item = self.kv.get_item(key)
        if item is None:  # given back meanwhile: the next try takes it
            return None
        holder = _field(item.value, "holder")
        if holder is None or not (holder_gone(holder) or _left_here(holder, item.value)):
            return None
        try:  # from the version we judged: two takers of one dead holder's lease, one wins
            version = self.kv.compare_and_set(key, mine, item.version, ttl=LOCK_TTL_S)
        except Conflict:
            return None
        _forget(_field(item.value, "token"))
        log.warning("secretsync.lease_taken_over", mapping=mapping, holder=holder)
        return version

    def _release(self, key: str, mine: bytes, version: int, mapping: str) -> bool:
        """Give our lease back; whether it is known gone from kv (``False``: a kv call failed,
        and the lease is left to this process's next take, or to its expiry)."""
        try:
            item = self.kv.get_item(key)
            if item is None or item.value != mine:
                return True  # expired and taken over meanwhile: nothing of ours to release
            with suppress(Conflict):  # taken over between the read and the delete
                self.kv.delete(key, expected_version=version)
            return True
        except Exception as exc:
            log.warning(
                "secretsync.lease_not_released", mapping=mapping, error_type=type(exc).__name__
            )
            return False

    def _busy(self, mapping: str, key: str) -> TransientError:
        item = self.kv.get_item(key)
        holder = _field(item.value, "holder") if item else None
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
        key = f"{_audit_key(int(record.at * 1_000_000))}-{uuid.uuid4().hex[:8]}"
        self.kv.put_json(key, asdict(record))

    def audit_log(self, mapping: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """Newest first.

        Audit keys are time-ordered and the kv scans forward only, so the log is read back
        from now in windows reaching ever further back (a minute, then 8 times as far...)
        until ``limit`` records are found or the oldest is passed; a window holding more than
        needed is halved until its newest records are found (:meth:`_newest`). The newest
        records cost a few short reads however long the log is, and only the records returned
        are decoded (with ``mapping``, also those whose text names it).
        """
        if limit <= 0:
            return []
        oldest = next(self.kv.keys(AUDIT_PREFIX, limit=1), None)
        if oldest is None:
            return []
        first = _micros(oldest)
        match = _names(mapping)
        now = int(self.clock.now() * 1_000_000)
        found = self._newest(now, None, limit, match)  # written "in the future": another clock
        upper, span = now, AUDIT_WINDOW_S * 1_000_000
        while len(found) < limit and upper > first:
            lower = max(upper - int(span), first, 0)
            found = self._newest(lower, upper, limit - len(found), match) + found
            upper, span = lower, span * AUDIT_WINDOW_GROWTH
        return [_audit_record(value) for value in reversed(found[-limit:])]

    def _newest(
        self, lower: int, upper: int | None, wanted: int, match: Callable[[bytes], bool] | None
    ) -> list[bytes]:
        """The newest ``wanted`` records (those ``match`` takes) written in microseconds
        ``[lower, upper)``, oldest first: a range holding more is halved, newer half first, so
        no read goes far past what is returned."""
        taken = self._audit_range(lower, upper, match, wanted + 1)
        if len(taken) <= wanted:
            return taken
        top = _AUDIT_END if upper is None else upper
        if top - lower <= 1:  # one microsecond: read it all
            return self._audit_range(lower, upper, match, None)[-wanted:]
        middle = (lower + top) // 2
        newer = self._newest(middle, upper, wanted, match)
        if len(newer) >= wanted:
            return newer[-wanted:]
        return self._newest(lower, middle, wanted - len(newer), match) + newer

    def _audit_range(
        self, lower: int, upper: int | None, match: Callable[[bytes], bool] | None, most: int | None
    ) -> list[bytes]:
        """Up to ``most`` records written in microseconds ``[lower, upper)``, oldest first."""
        end = None if upper is None else _audit_key(upper)
        scan = self.kv.scan_prefix(
            AUDIT_PREFIX, start_after=_audit_key(lower), limit=most if match is None else None
        )
        taken: list[bytes] = []
        for item in scan:
            if end is not None and item.key >= end:
                break
            if match is None or match(item.value):
                taken.append(item.value)
                if most is not None and len(taken) >= most:
                    break
        return taken


def _audit_key(micros: int) -> str:
    """The key every audit record written at ``micros`` (since the epoch) or later sorts after."""
    return f"{AUDIT_PREFIX}{max(micros, 0):020d}"


def _micros(key: str) -> int:
    """When the audit record at ``key`` was written, in microseconds (0 if the key says not)."""
    digits = key.removeprefix(AUDIT_PREFIX)[:20]
    return int(digits) if digits.isdigit() else 0


def _names(mapping: str | None) -> Callable[[bytes], bool] | None:
    """A test of a stored record for ``mapping``'s (``None``: every record): its JSON text
    holds the name before it is decoded, so most records of other mappings are not."""
    if mapping is None:
        return None
    needle = json.dumps(mapping, ensure_ascii=False).encode()
    return lambda value: needle in value and _audit_record(value).mapping == mapping


def _audit_record(value: bytes) -> AuditRecord:
    return AuditRecord(**json.loads(value))


def _leave(token: str) -> None:
    """Note that the lease of ``token`` may be left in kv (see :data:`_LEFT`)."""
    with _LEFT_LOCK:
        _prune_left()
        _LEFT[token] = time.monotonic()


def _forget(token: str | None) -> None:
    """Note that the lease of ``token`` was taken over."""
    if token is not None:
        with _LEFT_LOCK:
            _LEFT.pop(token, None)


def _prune_left() -> None:
    """Drop the tokens whose leases have run out (``_LEFT_LOCK`` held)."""
    oldest = time.monotonic() - _LEFT_KEPT_S
    for token in [t for t, left_at in _LEFT.items() if left_at < oldest]:
        del _LEFT[token]


def _left_here(holder: str, value: bytes) -> bool:
    """Whether the lease record ``value`` of ``holder`` is one this process left (see
    :data:`_LEFT`)."""
    token = _field(value, "token")
    if holder != this_process() or token is None:
        return False
    with _LEFT_LOCK:
        _prune_left()
        return token in _LEFT


def _forget_parent_leases() -> None:
    """In a forked child: no lease is left by it, and a thread of the parent may have held
    ``_LEFT_LOCK`` at the fork (the child would wait for it forever)."""
    global _LEFT_LOCK
    _LEFT_LOCK = threading.Lock()
    _LEFT.clear()


os.register_at_fork(after_in_child=_forget_parent_leases)


def _field(value: bytes, name: str) -> str | None:
    """The ``holder`` or ``token`` a lease record names (``None``: a record of an older
    version, without it)."""
    with suppress(ValueError, AttributeError):
        found = json.loads(value).get(name)
        return found if isinstance(found, str) else None
    return None
