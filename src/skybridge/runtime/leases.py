"""Named leases with fencing tokens, built on any kv store's compare-and-set.

A lease record is one kv item, ``<prefix><name>``, holding JSON ``{"owner", "token",
"expires_at"}``. Every change is a ``compare_and_set`` against the version just read, so two
contenders can never both succeed (SQLite, Redis and DynamoDB stores all make CAS atomic).

* **Expiry** is judged from ``expires_at`` in the record by the manager's clock (hosts' clocks
  must agree to well within a TTL). The record itself does not use kv TTLs, so it survives
  its lease and tokens keep increasing; pass ``record_ttl`` to let idle records vanish (their
  token history then restarts, so make it much longer than any pause you want to detect).
* **Fencing token**: the kv version written by the acquiring CAS. Every later write bumps the
  version, so each new acquisition gets a larger token than all earlier ones. Renewals keep the
  token. A resource that remembers the highest token it has seen can refuse writes from a
  holder that was paused past its expiry (see :meth:`LeaseManager.is_current`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from skybridge.backends.kv.base import Item, KeyValueStore
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError, Conflict, ValidationError


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lease. ``version`` is the kv version this holder last wrote (for its next CAS)."""

    name: str
    owner: str
    token: int
    expires_at: float
    version: int


@dataclass(frozen=True, slots=True)
class _Record:
    owner: str | None
    token: int
    expires_at: float

    @classmethod
    def parse(cls, item: Item) -> _Record:
        try:
            doc = json.loads(item.value)
            return cls(doc.get("owner"), int(doc["token"]), float(doc["expires_at"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValidationError(f"kv key {item.key!r} does not hold a lease record") from None

    def encode(self) -> bytes:
        doc = {"owner": self.owner, "token": self.token, "expires_at": self.expires_at}
        return json.dumps(doc, separators=(",", ":")).encode()


class LeaseManager:
    """Acquire, renew and release leases stored in ``kv`` under ``prefix``.

    Args:
        kv: any :class:`KeyValueStore`.
        prefix: key prefix for lease records.
        clock: decides expiry (``now`` arguments override it per call).
        record_ttl: optional kv TTL for lease records (see module docstring).
    """

    def __init__(
        self,
        kv: KeyValueStore,
        *,
        prefix: str = "leases/",
        clock: Clock = SYSTEM_CLOCK,
        record_ttl: float | None = None,
    ) -> None:
        self.kv = kv
        self.prefix = prefix
        self.clock = clock
        self.record_ttl = record_ttl

    def acquire(
        self,
        name: str,
        owner: str,
        ttl: float,
        *,
        now: float | None = None,
        take_over: Callable[[Lease], bool] | None = None,
    ) -> Lease | None:
        """Take the lease if it is free, expired, or already ``owner``'s (then it is renewed);
        with ``take_over``, also a live lease whose holder ``take_over(holder)`` judges done
        (its process is gone: see :mod:`skybridge.runtime.holders`): that lease is released
        from the version judged, then taken, so two takers of one such lease never both win.

        Returns:
            The lease, or ``None`` when another owner holds it (or won the race for it).
        """
        lease = self._acquire(name, owner, ttl, now)
        if lease is not None or take_over is None:
            return lease
        holder = self.holder(name, now=now)
        if holder is None or not take_over(holder) or not self.release(holder):
            return None
        return self._acquire(name, owner, ttl, now)

    def _acquire(self, name: str, owner: str, ttl: float, now: float | None) -> Lease | None:
        _check_ttl(ttl)
        now = self.clock.now() if now is None else now
        key = self.prefix + name
        item = self.kv.get_item(key)
        record = None if item is None else _Record.parse(item)
        if record is not None and record.owner not in (None, owner) and record.expires_at > now:
            return None
        same_holder = record is not None and record.owner == owner and record.expires_at > now
        expected = 0 if item is None else item.version
        # A fresh acquisition's token is the version its CAS writes (every write adds 1).
        token = record.token if same_holder and record is not None else expected + 1
        new = _Record(owner, token, now + ttl)
        try:
            version = self.kv.compare_and_set(key, new.encode(), expected, ttl=self.record_ttl)
        except Conflict:
            return None
        return Lease(name, owner, token, now + ttl, version)

    def renew(self, lease: Lease, ttl: float, *, now: float | None = None) -> Lease:
        """Extend a lease still held. Raises :class:`Conflict` if it was lost (expired and
        taken, or released)."""
        _check_ttl(ttl)
        now = self.clock.now() if now is None else now
        if lease.expires_at <= now:
            current = self.holder(lease.name, now=now)
            if current is None or current.token != lease.token:
                raise Conflict(f"lease {lease.name!r} expired and was lost by {lease.owner!r}")
        record = _Record(lease.owner, lease.token, now + ttl)
        key = self.prefix + lease.name
        try:
            version = self.kv.compare_and_set(
                key, record.encode(), lease.version, ttl=self.record_ttl
            )
        except Conflict:
            raise Conflict(
                f"lease {lease.name!r} is no longer held by {lease.owner!r}",
                hint="stop work guarded by it and acquire again",
            ) from None
        return Lease(lease.name, lease.owner, lease.token, now + ttl, version)

    def release(self, lease: Lease) -> bool:
        """Give the lease up; ``False`` if it had already been lost. The record (and its token
        history) stays."""
        record = _Record(None, lease.token, 0.0)
        try:
            self.kv.compare_and_set(
                self.prefix + lease.name, record.encode(), lease.version, ttl=self.record_ttl
            )
        except Conflict:
            return False
        return True

    def holder(self, name: str, *, now: float | None = None) -> Lease | None:
        """The live lease on ``name``, or ``None`` if nobody holds it."""
        now = self.clock.now() if now is None else now
        item = self.kv.get_item(self.prefix + name)
        if item is None:
            return None
        record = _Record.parse(item)
        if record.owner is None or record.expires_at <= now:
            return None
        return Lease(name, record.owner, record.token, record.expires_at, item.version)

    def is_current(self, lease: Lease, *, now: float | None = None) -> bool:
        """Whether ``lease`` is still the live lease on its name (same owner and token)."""
        current = self.holder(lease.name, now=now)
        return current is not None and (current.owner, current.token) == (lease.owner, lease.token)


def _check_ttl(ttl: float) -> None:
    if not (isinstance(ttl, int | float) and ttl > 0):
        raise ConfigError(f"lease ttl must be a positive number of seconds, got {ttl!r}")
