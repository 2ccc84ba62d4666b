"""The key-value contract: versioned items with optional expiry, ordered prefix scans, CAS.

An implementation provides four primitives (``_get_many``, ``_put``, ``_delete``, ``_scan``);
:class:`KeyValueStore` derives everything else and applies the rules every backend shares:

* Keys are non-empty ``str`` of at most 1024 UTF-8 bytes without NUL; values are ``bytes``.
* Every store works inside one *namespace* (``?namespace=`` in the URL, default ``default``);
  stores on the same backing service with different namespaces never see each other's keys.
* Each key carries a *version*: 1 when the key is created, +1 on every write. A key that was
  deleted or has expired no longer exists, so writing it again starts at version 1.
* Expired keys are invisible everywhere: reads, batch reads, scans, deletes and CAS.
  Expiry is judged by the store's ``clock`` (inject a ``ManualClock`` to test without sleeping).
* Scans return keys in ascending Unicode code point order (equal to UTF-8 byte order) in every
  backend, page by page; the base class handles pagination.
* Batch operations are not atomic across keys, except :meth:`KeyValueStore.write_batch` on
  stores with the ``atomic_batch`` capability: its conditional writes and deletes apply all or
  nothing (in chunks of ``max_atomic_batch`` writes where the service caps a transaction).
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from skybridge.backends.kv import keys as rules
from skybridge.core.backend import Backend
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError, Conflict, ValidationError
from skybridge.core.observability import observe_call
from skybridge.core.urls import BackendURL

#: What a value may be given as; it is stored and returned as ``bytes``.
Value = bytes | bytearray | memoryview

#: Default largest value for backends whose service allows far more (Redis: 512 MiB).
DEFAULT_MAX_VALUE_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Item:
    """One stored entry. ``expires_at`` is seconds since the epoch, ``None`` if it never expires."""

    key: str
    value: bytes = field(repr=False)  # may be sensitive: never in reprs
    version: int
    expires_at: float | None = None

    def is_live(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class BatchWrite:
    """One write of :meth:`KeyValueStore.write_batch`.

    ``value`` ``None`` deletes the key. ``expected`` is a compare-and-set guard like
    :meth:`KeyValueStore.compare_and_set`'s (``0``: must not exist, only for puts; ``n``: must be
    live at version ``n``); ``None`` writes unconditionally.
    """

    key: str
    value: bytes | None = field(repr=False)
    expected: int | None = None


@dataclass(frozen=True, slots=True)
class ScanPage:
    """What ``_scan`` returns: stored items in key order (expired ones may be included).

    ``next_start_after`` is the key to continue after, or ``None`` when nothing follows.
    """

    items: list[Item]
    next_start_after: str | None


class KeyValueStore(Backend):
    """A namespaced, versioned key-value store with TTLs, compare-and-set and batch operations.

    Capabilities: ``ttl``, ``cas`` and ``batch`` (every backend); ``native_expiry`` when the
    service deletes expired items itself (otherwise call :meth:`purge_expired` now and then);
    ``atomic_batch`` when :meth:`write_batch` is one transaction (all or nothing).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"ttl", "cas", "batch"})
    #: Most writes one atomic batch may hold (``None``: no limit); larger batches are split
    #: into atomic chunks applied in order.
    max_atomic_batch: ClassVar[int | None] = None
    #: URL scheme, used in metrics labels.
    scheme: ClassVar[str] = "kv"
    #: Upper bound ``max_value_size`` may be set to (``None``: no service limit we know of).
    value_size_limit: ClassVar[int | None] = None

    def __init__(
        self,
        *,
        namespace: str = rules.DEFAULT_NAMESPACE,
        clock: Clock | None = None,
        page_size: int = 100,
        max_value_size: int | None = None,
    ) -> None:
        self.namespace = rules.check_namespace(namespace)
        self.clock: Clock = clock or SYSTEM_CLOCK
        if page_size < 1:
            raise ConfigError(f"kv page_size must be >= 1, got {page_size}")
        #: Items fetched per ``_scan`` call; scans over more keys take several pages.
        self.page_size = page_size
        limit = self.value_size_limit
        size = min(DEFAULT_MAX_VALUE_SIZE, limit or DEFAULT_MAX_VALUE_SIZE)
        if max_value_size is not None:
            size = max_value_size
        if size < 1 or (limit is not None and size > limit):
            raise ConfigError(
                f"kv max_value_size {size} is out of range",
                hint=f"{self.scheme}:// stores values of 1 to {limit or 'any number of'} bytes",
            )
        #: Largest value accepted; larger ones raise ``ValidationError`` before any I/O.
        self.max_value_size = size

    # -- primitives -------------------------------------------------------------------------

    @abstractmethod
    def _get_many(self, keys: list[str]) -> dict[str, Item]:
        """Stored items for ``keys`` (distinct, valid); absent keys are left out.

        Expired items may be returned; the base class hides them.
        """

    @abstractmethod
    def _put(
        self, key: str, value: bytes, *, expires_at: float | None, expected: int | None, now: float
    ) -> int | None:
        """Write atomically and return the new version, or ``None`` if ``expected`` failed.

        ``expected``: ``None`` writes unconditionally; ``0`` requires no live item; ``n``
        requires a live item at version ``n``. An item with ``expires_at <= now`` is not live:
        writing over it starts again at version 1. ``expires_at=None`` clears any expiry.
        """

    @abstractmethod
    def _delete(self, key: str, *, expected: int | None, now: float) -> bool | None:
        """Remove ``key`` (live or expired). ``True`` if a live item was removed, ``False`` if
        none was there, ``None`` if ``expected`` (a version >= 1) did not match a live item."""

    @abstractmethod
    def _scan(self, prefix: str, start_after: str | None, limit: int) -> ScanPage:
        """Up to ``limit`` stored items whose key starts with ``prefix`` and sorts after
        ``start_after``, in ascending code point order."""

    def _put_many(
        self, values: dict[str, bytes], *, expires_at: float | None, now: float
    ) -> dict[str, int]:
        """Write several items unconditionally. Override when the service has a batch write."""
        written: dict[str, int] = {}
        for key, value in values.items():
            version = self._put(key, value, expires_at=expires_at, expected=None, now=now)
            assert version is not None  # unconditional writes cannot fail a condition
            written[key] = version
        return written

    def _delete_many(self, keys: list[str], *, now: float) -> None:
        """Remove several keys. Override when the service has a batch delete."""
        for key in keys:
            self._delete(key, expected=None, now=now)

    def _write_batch(self, writes: list[BatchWrite], *, now: float) -> dict[str, int]:
        """Apply ``writes`` (distinct, valid keys) in order; new version per key (0: deleted).

        Raise :class:`Conflict` when a guard fails. Stores with ``atomic_batch`` override this
        with one transaction that writes nothing on a conflict; this default checks every guard
        with one read first (so a stale guard usually writes nothing), then writes key by key,
        so a concurrent writer can still leave the writes before the conflicting one applied.
        """
        guarded = [w.key for w in writes if w.expected]
        items = self._get_many(guarded) if guarded else {}
        for write in writes:
            if write.expected is not None:
                item = items.get(write.key)
                live = item.version if item is not None and item.is_live(now) else 0
                if write.expected and live != write.expected:
                    raise self._conflict(write.key, write.expected)
        versions: dict[str, int] = {}
        for write in writes:
            if write.value is None:
                if self._delete(write.key, expected=write.expected, now=now) is None:
                    raise self._conflict(write.key, write.expected)
                versions[write.key] = 0
                continue
            version = self._put(
                write.key, write.value, expires_at=None, expected=write.expected, now=now
            )
            if version is None:
                raise self._conflict(write.key, write.expected)
            versions[write.key] = version
        return versions

    def purge_expired(self) -> int:
        """Physically remove expired items; returns how many. Backends whose service expires
        items itself (Redis, DynamoDB) have nothing to do and return 0."""
        return 0

    # -- derived API ------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The value at ``key``, or ``None`` if it is absent or expired."""
        item = self.get_item(key)
        return None if item is None else item.value

    def get_item(self, key: str) -> Item | None:
        """The live :class:`Item` (value, version, expiry) at ``key``, or ``None``."""
        return self.get_items([key]).get(key)

    def exists(self, key: str) -> bool:
        return self.get_item(key) is not None

    def get_items(self, keys: Iterable[str]) -> dict[str, Item]:
        """Live items for ``keys``, by key; absent or expired keys are left out."""
        wanted = list(dict.fromkeys(rules.check_key(k) for k in keys))
        if not wanted:
            return {}
        with self._observe("get"):
            found = self._get_many(wanted)
        now = self.clock.now()
        return {k: found[k] for k in wanted if k in found and found[k].is_live(now)}

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """Values for ``keys``, by key; absent or expired keys are left out."""
        return {k: item.value for k, item in self.get_items(keys).items()}

    def put(self, key: str, value: Value, *, ttl: float | None = None) -> int:
        """Write ``value`` at ``key`` (expiring after ``ttl`` seconds); returns the new version."""
        return self._write(key, value, ttl=ttl, expected=None)

    def compare_and_set(
        self, key: str, value: Value, expected_version: int, *, ttl: float | None = None
    ) -> int:
        """Write only if ``key`` is at ``expected_version`` (0: must not exist).

        Returns:
            The new version.

        Raises:
            Conflict: the key is at another version, is absent, or (for 0) exists.
        """
        expected = rules.check_version(expected_version, minimum=0)
        return self._write(key, value, ttl=ttl, expected=expected)

    def put_many(self, values: Mapping[str, Value], *, ttl: float | None = None) -> dict[str, int]:
        """Write several keys (not atomically as a whole); returns the new version of each."""
        checked = {
            rules.check_key(k): rules.check_value(v, self.max_value_size) for k, v in values.items()
        }
        expires_at = self._expires_at(rules.check_ttl(ttl))
        if not checked:
            return {}
        with self._observe("put_many"):
            return self._put_many(checked, expires_at=expires_at, now=self.clock.now())

    def write_batch(self, writes: Iterable[BatchWrite]) -> dict[str, int]:
        """Write and delete several keys, each under an optional version guard, in one go.

        With the ``atomic_batch`` capability the batch is one transaction: a failed guard
        writes nothing (per chunk of ``max_atomic_batch``; chunks apply in order). Without it,
        writes apply in order and a conflict leaves the earlier ones in place. Items written
        here never expire.

        Returns:
            The new version of each key, in the order given (0 for a deleted key).

        Raises:
            Conflict: a guard did not hold.
            ValidationError: a bad key or value, a key given twice, or a delete expecting 0.
        """
        checked: list[BatchWrite] = []
        seen: set[str] = set()
        for write in writes:
            key = rules.check_key(write.key)
            if key in seen:
                raise ValidationError(f"kv key {key!r} appears twice in one write_batch")
            seen.add(key)
            expected = write.expected
            if expected is not None:
                expected = rules.check_version(
                    expected, minimum=0 if write.value is not None else 1
                )
            if write.value is None:
                checked.append(BatchWrite(key, None, expected))
            else:
                checked.append(
                    BatchWrite(key, rules.check_value(write.value, self.max_value_size), expected)
                )
        if not checked:
            return {}
        size = self.max_atomic_batch or len(checked)
        versions: dict[str, int] = {}
        with self._observe("write_batch"):
            for start in range(0, len(checked), size):
                chunk = checked[start : start + size]
                versions.update(self._write_batch(chunk, now=self.clock.now()))
        return versions

    def delete(self, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key``; ``True`` if a live item was there.

        With ``expected_version`` the delete happens only if the key is live at that version,
        otherwise it raises :class:`Conflict`.
        """
        rules.check_key(key)
        expected = None
        if expected_version is not None:
            expected = rules.check_version(expected_version, minimum=1)
        with self._observe("delete"):
            outcome = self._delete(key, expected=expected, now=self.clock.now())
            if outcome is None:
                raise self._conflict(key, expected)
        return outcome

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove several keys; absent ones are ignored."""
        wanted = list(dict.fromkeys(rules.check_key(k) for k in keys))
        if wanted:
            with self._observe("delete_many"):
                self._delete_many(wanted, now=self.clock.now())

    def scan_prefix(
        self, prefix: str = "", *, start_after: str | None = None, limit: int | None = None
    ) -> Iterator[Item]:
        """Live items whose key starts with ``prefix``, in ascending key order.

        Args:
            prefix: only keys starting with it ("" for all keys of the namespace).
            start_after: resume after this key (exclusive), e.g. the last key of a prior scan.
            limit: stop after this many items.
        """
        rules.check_prefix(prefix)
        if start_after is not None:
            rules.check_key(start_after, what="start_after")
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            raise ValidationError(f"limit must be >= 0, got {limit!r}")
        return self._scan_pages(prefix, start_after, limit)

    def keys(self, prefix: str = "", *, limit: int | None = None) -> Iterator[str]:
        """Keys of live items starting with ``prefix``, in ascending order."""
        return (item.key for item in self.scan_prefix(prefix, limit=limit))

    def get_json(self, key: str) -> Any:
        """The JSON document at ``key``, or ``None`` if absent."""
        raw = self.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ValidationError(f"value at key {key!r} is not JSON") from None

    def put_json(self, key: str, document: Any, *, ttl: float | None = None) -> int:
        """Store ``document`` as compact UTF-8 JSON; returns the new version."""
        try:
            raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"cannot encode value for key {key!r} as JSON: {exc}") from None
        return self.put(key, raw.encode("utf-8"), ttl=ttl)

    # -- shared machinery -------------------------------------------------------------------

    def _write(self, key: str, value: Value, *, ttl: float | None, expected: int | None) -> int:
        rules.check_key(key)
        data = rules.check_value(value, self.max_value_size)
        expires_at = self._expires_at(rules.check_ttl(ttl))
        operation = "put" if expected is None else "compare_and_set"
        with self._observe(operation):
            version = self._put(
                key, data, expires_at=expires_at, expected=expected, now=self.clock.now()
            )
            if version is None:
                raise self._conflict(key, expected)
        return version

    def _expires_at(self, ttl: float | None) -> float | None:
        return None if ttl is None else self.clock.now() + ttl

    def _scan_pages(self, prefix: str, cursor: str | None, limit: int | None) -> Iterator[Item]:
        remaining = limit
        while remaining is None or remaining > 0:
            size = self.page_size if remaining is None else min(self.page_size, remaining)
            with self._observe("scan"):
                page = self._scan(prefix, cursor, size)
            now = self.clock.now()
            for item in page.items:
                if item.is_live(now):
                    yield item
                    if remaining is not None:
                        remaining -= 1
                        if remaining == 0:
                            return
            if page.next_start_after is None:
                return
            cursor = page.next_start_after

    def _conflict(self, key: str, expected: int | None) -> Conflict:
        if expected == 0:
            return Conflict(
                f"kv key {key!r} already exists", hint="read it and retry with its version"
            )
        return Conflict(
            f"kv key {key!r} is not at version {expected} (it changed, expired or was deleted)",
            hint="read the current item and retry with its version",
        )

    def _observe(self, operation: str) -> AbstractContextManager[None]:
        return observe_call("kv", self.scheme, operation)

    @staticmethod
    def common_options(url: BackendURL, options: dict[str, Any]) -> dict[str, Any]:
        """Pop the options every kv backend takes from ``options``, falling back to URL params."""
        common: dict[str, Any] = {}
        for name in ("namespace", "page_size", "max_value_size"):
            value = options.pop(name, url.params.get(name))
            if value is None:
                continue
            if name == "namespace":
                common[name] = value
                continue
            try:
                common[name] = int(value)
            except (TypeError, ValueError):
                raise ConfigError(f"kv {name} must be an integer, got {value!r}") from None
        if "clock" in options:
            common["clock"] = options.pop("clock")
        return common
