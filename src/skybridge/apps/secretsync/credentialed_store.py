"""A secret store opened with credentials kept in a secret, reopened when they change.

A backend with ``credentials_from`` (OCI: an API key config kept in another store) is opened
with the credentials read then; an engine lives as long as its process (the scheduled job, the
events pipeline, a warm function), so it must notice a key rotation by itself. A
:class:`CredentialedStore` reads the credentials again

* when a call is refused for the credentials themselves (:data:`REFUSED`: an OCI 401, an AWS
  unrecognized or expired token; not a 403, a 413 or a 400), at most once every
  :data:`REREAD_AFTER_REFUSAL_S` seconds:
  if they changed, the store is reopened with them and the call tried once more; if not (or
  they were read for a refusal less than that ago), the refusal is raised as it came;
* on the first call after :data:`CREDENTIALS_MAX_AGE_S` since they were last read: if they
  changed, later calls go to a store opened with them.

So rotating a key (write the new one into the secret, then delete the old one) needs no
restart, and a run failing many calls for other reasons does not read the secret for each.
The store is shared by the engine's threads: one of them at a time reads the credentials
again, without holding up the others' calls (a thread refused meanwhile waits for that read
and uses its outcome), and a thread refused by a store another thread already replaced tries
the replacement without reading them. A replaced store is closed with this one (a call may
still be using it). Credentials are never logged.
"""

from __future__ import annotations

import builtins
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Self, TypeVar

from skybridge.backends.secrets import (
    ChangeFeed,
    SecretInfo,
    SecretRef,
    SecretStore,
    SecretValue,
    SecretVersion,
    VersionInfo,
)
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import NotAuthenticated, PermissionDenied
from skybridge.core.observability import get_logger
from skybridge.core.urls import BackendURL

log = get_logger(__name__)
T = TypeVar("T")
#: Longest time a store keeps using credentials without reading them again.
CREDENTIALS_MAX_AGE_S = 900.0
#: Shortest time between two reads of the credentials after refused calls.
REREAD_AFTER_REFUSAL_S = 30.0
#: Errors that may mean the credentials were rotated (a deleted key: OCI answers 401).
REFUSED = (NotAuthenticated, PermissionDenied)
#: The class-level settings of a store (limits, name rules, capabilities) that a
#: :class:`CredentialedStore` takes from the store it opens.
CLASS_SETTINGS = (
    "scheme",
    "capabilities",
    "default_max_value_size",
    "name_pattern",
    "name_rule",
    "id_pattern",
    "id_rule",
    "max_active_versions",
    "url_credentials",
    "recovery_days_range",
    "default_recovery_days",
)

Credentials = dict[str, Any]


def open_credentialed(
    open_store: Callable[[Credentials], SecretStore],
    read: Callable[[], Credentials],
    *,
    name: str,
    max_age: float = CREDENTIALS_MAX_AGE_S,
    clock: Clock = SYSTEM_CLOCK,
) -> SecretStore:
    """The store ``open_store(read())``, reopened as :class:`CredentialedStore` describes.

    Args:
        open_store: opens the store with these credentials.
        read: reads the credentials (raises when they cannot be read).
        name: the backend's name, for logs.
        max_age: seconds after which the credentials are read again on the next call.
        clock: measures ``max_age``.
    """
    credentials = read()
    store = open_store(credentials)
    kind = _credentialed(type(store))
    return kind(store, credentials, open_store, read, name=name, max_age=max_age, clock=clock)


@functools.cache
def _credentialed(inner: type[SecretStore]) -> type[CredentialedStore]:
    """:class:`CredentialedStore` with the class-level settings of ``inner``."""
    settings = {setting: getattr(inner, setting) for setting in CLASS_SETTINGS}
    kind: type[CredentialedStore] = type(
        f"Credentialed{inner.__name__}", (CredentialedStore,), settings
    )
    return kind


class CredentialedStore(SecretStore):
    """Every call goes to the store opened with the credentials read last (see the module
    docstring); build one with :func:`open_credentialed`."""

    def __init__(
        self,
        store: SecretStore,
        credentials: Credentials,
        open_store: Callable[[Credentials], SecretStore],
        read: Callable[[], Credentials],
        *,
        name: str,
        max_age: float,
        clock: Clock,
    ) -> None:
        super().__init__(max_value_size=store.max_value_size)
        self.name = name
        self._open, self._read = open_store, read
        self._max_age, self._clock = max_age, clock
        # _lock guards the store in use and is never held across a call or a read;
        # _rereading is held by the one thread reading the credentials (taken before _lock).
        self._lock, self._rereading = threading.Lock(), threading.Lock()
        self._store, self._credentials = store, credentials
        self._read_at = clock.now()
        self._refusal_read_at: float | None = None  # only with _rereading held
        self._replaced: list[SecretStore] = []
        self._closed = False

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        raise TypeError("a CredentialedStore is built by open_credentialed(), not from a URL")

    def __repr__(self) -> str:
        return f"Credentialed({self._store!r})"

    # -- the store in use ------------------------------------------------------------------
    def _current(self) -> SecretStore:
        """The store to call: reopened first when the credentials are due to be read again
        and changed, unless another thread is reading them (then the store in use)."""
        if self._age_due() and self._rereading.acquire(blocking=False):
            try:
                if self._age_due():  # not read by another thread since the first look
                    self._reread(reason="age")
            finally:
                self._rereading.release()
        with self._lock:
            return self._store

    def _age_due(self) -> bool:
        with self._lock:
            return self._clock.now() - self._read_at >= self._max_age

    def _after_refusal(self, refused: SecretStore) -> SecretStore | None:
        """The store to try again after ``refused`` refused a call for its credentials: its
        replacement, or ``None`` (they were read for a refusal less than
        :data:`REREAD_AFTER_REFUSAL_S` ago, did not change or could not be read)."""
        if (replacement := self._replacement(refused)) is not None:
            return replacement  # replaced by another thread meanwhile: no need to read them
        with self._rereading:  # a thread refused meanwhile waits here for the read's outcome
            if self._replacement(refused) is None and self._refusal_read_due():
                self._reread(reason="refused")
            return self._replacement(refused)

    def _replacement(self, refused: SecretStore) -> SecretStore | None:
        """The store in use, if it is not ``refused``."""
        with self._lock:
            return None if self._store is refused else self._store

    def _refusal_read_due(self) -> bool:
        """Whether a refusal may read the credentials now; if so, the next may not for
        :data:`REREAD_AFTER_REFUSAL_S` (``_rereading`` held)."""
        now = self._clock.now()
        last = self._refusal_read_at
        if last is not None and now - last < REREAD_AFTER_REFUSAL_S:
            return False
        self._refusal_read_at = now
        return True

    def _reread(self, *, reason: str) -> None:
        """Read the credentials; when they changed, open the store with them and use it
        (``_rereading`` held; ``_lock`` only to swap the store, not across the reading)."""
        with self._lock:
            self._read_at = self._clock.now()
        try:
            credentials = self._read()
            if credentials == self._credentials:
                return
            store = self._open(credentials)
        except Exception as exc:  # keep the store in use; the next refusal or age tries again
            log.warning(
                "secretsync.credentials_not_reread",
                backend=self.name,
                reason=reason,
                error_type=type(exc).__name__,
            )
            return
        with self._lock:
            closed = self._closed
            if not closed:
                self._replaced.append(self._store)
                self._store, self._credentials = store, credentials
                self.max_value_size = store.max_value_size
        if closed:  # closed while the credentials were read: nothing will close it later
            store.close()
            return
        log.info("secretsync.credentials_reread", backend=self.name, reason=reason)

    def _call(self, call: Callable[[SecretStore], T]) -> T:
        """``call(store)``, tried once more on a store reopened with new credentials when it
        was refused."""
        store = self._current()
        try:
            return call(store)
        except REFUSED:
            again = self._after_refusal(store)
            if again is None:
                raise
        return call(again)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            stores, self._replaced = [*self._replaced, self._store], []
        for store in stores:
            store.close()

    # -- the SecretStore API, each call on the store in use --------------------------------
    def ping(self) -> None:
        self._call(lambda s: s.ping())

    def supports(self, capability: str) -> bool:
        return self._current().supports(capability)

    @property
    def principal_id(self) -> str | None:
        return self._current().principal_id

    def is_secret_id(self, secret: str) -> bool:
        return self._current().is_secret_id(secret)

    def create(
        self,
        name: str,
        value: SecretValue,
        *,
        version_id: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> SecretVersion:
        return self._call(
            lambda s: s.create(
                name, value, version_id=version_id, description=description, metadata=metadata
            )
        )

    def put_value(
        self,
        secret: str,
        value: SecretValue,
        *,
        version_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> SecretVersion:
        return self._call(
            lambda s: s.put_value(secret, value, version_id=version_id, metadata=metadata)
        )

    def upsert_value(
        self,
        name: str,
        value: SecretValue,
        *,
        version_id: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> SecretVersion:
        return self._call(
            lambda s: s.upsert_value(
                name, value, version_id=version_id, description=description, metadata=metadata
            )
        )

    def get_value(
        self, secret: str, *, version_id: str | None = None, stage: str | None = None
    ) -> SecretVersion:
        return self._call(lambda s: s.get_value(secret, version_id=version_id, stage=stage))

    def describe(self, secret: str) -> SecretInfo:
        return self._call(lambda s: s.describe(secret))

    def describe_many(self, secrets: Iterable[str]) -> dict[str, SecretInfo]:
        wanted = builtins.list(secrets)
        return self._call(lambda s: s.describe_many(wanted))

    def list(self, prefix: str | None = None) -> Iterator[SecretRef]:
        """Secrets as the store in use lists them; a refusal before the first one is tried
        once more as :meth:`_call` does (after it, a listing cannot resume: it is raised)."""
        store = self._current()
        listed = False
        try:
            for ref in store.list(prefix):
                listed = True
                yield ref
            return
        except REFUSED:
            again = None if listed else self._after_refusal(store)
            if again is None:
                raise
        yield from again.list(prefix)

    def list_versions(self, secret: str) -> builtins.list[VersionInfo]:
        return self._call(lambda s: s.list_versions(secret))

    def update_metadata(self, secret: str, metadata: Mapping[str, str | None]) -> None:
        self._call(lambda s: s.update_metadata(secret, metadata))

    def delete(self, secret: str, *, recovery_days: int | None = None, force: bool = False) -> None:
        self._call(lambda s: s.delete(secret, recovery_days=recovery_days, force=force))

    def schedule_version_deletion(self, secret: str, version_id: str) -> None:
        self._call(lambda s: s.schedule_version_deletion(secret, version_id))

    def prune_versions(self, secret: str, *, max_active: int | None = None) -> builtins.list[str]:
        return self._call(lambda s: s.prune_versions(secret, max_active=max_active))

    def changed_since(self, since: datetime, until: datetime | None = None) -> ChangeFeed:
        return self._call(lambda s: s.changed_since(since, until))

    def batch_get_values(self, secrets: Iterable[str]) -> dict[str, SecretVersion]:
        wanted = builtins.list(secrets)
        return self._call(lambda s: s.batch_get_values(wanted))

    # -- the primitives: every public call above goes to the store in use instead ----------
    def _create(
        self,
        name: str,
        value: SecretValue,
        version_id: str,
        description: str | None,
        metadata: Mapping[str, str],
    ) -> SecretVersion:
        return self._call(lambda s: s._create(name, value, version_id, description, metadata))

    def _put_value(
        self, secret: str, value: SecretValue, version_id: str, metadata: Mapping[str, str]
    ) -> SecretVersion:
        return self._call(lambda s: s._put_value(secret, value, version_id, metadata))

    def _get_value(self, secret: str, version_id: str | None, stage: str | None) -> SecretVersion:
        return self._call(lambda s: s._get_value(secret, version_id, stage))

    def _describe(self, secret: str) -> SecretInfo:
        return self._call(lambda s: s._describe(secret))

    def _list(self, prefix: str | None) -> Iterator[SecretRef]:
        return self.list(prefix)

    def _update_metadata(self, secret: str, set_: Mapping[str, str], remove: set[str]) -> None:
        self._call(lambda s: s._update_metadata(secret, set_, remove))

    def _delete(self, secret: str, recovery_days: int | None, force: bool) -> None:
        self._call(lambda s: s._delete(secret, recovery_days, force))
