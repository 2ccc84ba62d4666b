"""Opening the ``secrets`` backends a table names, including OCI credentials kept in a secret.

OCI credentials come, per target backend, from one of:

* ``credentials_from = { backend = "aws", secret = "oci/api-key" }``: a secret whose value is
  the OCI API key config as JSON (``user``, ``tenancy``, ``fingerprint``, ``key_content``,
  ``region``, optional ``pass_phrase``); passed to the SDK as ``config=``. The key names of
  the article's ``internal/oci-sync-credentials`` secret are accepted too: ``user_ocid``,
  ``tenancy_ocid`` and ``private_key``;
* the URL: ``?config_file=...&profile=...`` (a config file) or
  ``?auth=instance_principal`` / ``?auth=resource_principal`` (OCI Functions).

A store opened with ``credentials_from`` reads them again when a call is refused and every
:data:`~.credentialed_store.CREDENTIALS_MAX_AGE_S` seconds, and is reopened when they changed
(:mod:`.credentialed_store`), so a long-lived engine follows a key rotation.

Credentials are never logged: errors name the secret that holds them, never its content.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from skybridge.apps.secretsync.credentialed_store import CREDENTIALS_MAX_AGE_S, open_credentialed
from skybridge.apps.secretsync.model import BackendSpec, MappingTable, SecretPointer
from skybridge.backends import secrets
from skybridge.backends.secrets import SecretStore
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError

_OCI_KEYS = ("user", "tenancy", "fingerprint", "region")
#: Other names for the SDK's keys (the article's credentials secret uses them).
_ALIASES = {"user_ocid": "user", "tenancy_ocid": "tenancy", "private_key": "key_content"}


def oci_config_from_json(text: str, where: str) -> dict[str, Any]:
    """An ``oci`` SDK config dict from the JSON kept in a secret (named ``where`` in errors)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(f"OCI credentials in {where} are not JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"OCI credentials in {where} must be a JSON object")
    for alias, key in _ALIASES.items():
        if alias not in data:
            continue
        value = data.pop(alias)
        if data.get(key) and value and data[key] != value:
            raise ConfigError(
                f"OCI credentials in {where} hold both {key} and {alias}, with different values",
                hint=f"keep one of them ({alias} is another name for {key})",
            )
        data[key] = data.get(key) or value
    missing = [k for k in (*_OCI_KEYS, "key_content") if not data.get(k)]
    if missing:
        raise ConfigError(
            f"OCI credentials in {where} lack {', '.join(missing)}",
            hint="store user (or user_ocid), tenancy (or tenancy_ocid), fingerprint, "
            "key_content (or private_key) and region",
        )
    data.setdefault("key_file", None)
    return {str(k): v for k, v in data.items()}


class Backends:
    """The table's backends, opened on first use and closed together; safe to share between
    threads (a backend is opened once).

    Args:
        table: names and URLs.
        stores: ready stores by backend name or URL (tests, or callers that own the stores).
        options: extra connect options by backend name (for example ``{"oci": {"config": ...}}``).
        credentials_max_age: seconds a store opened with ``credentials_from`` uses them before
            reading them again.
        clock: measures ``credentials_max_age``.
    """

    def __init__(
        self,
        table: MappingTable,
        *,
        stores: Mapping[str, SecretStore] | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        credentials_max_age: float = CREDENTIALS_MAX_AGE_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.table = table
        self.credentials_max_age = credentials_max_age
        self.clock = clock
        self._given = dict(stores or {})
        self._opened: dict[str, SecretStore] = {}
        self._options = {k: dict(v) for k, v in (options or {}).items()}
        self._lock = threading.Lock()

    def get(self, backend: str) -> SecretStore:
        """The store for a backend name or URL."""
        if backend in self._given:
            return self._given[backend]
        with self._lock:
            opened = self._opened.get(backend)
        if opened is not None:
            return opened
        # Opened without the lock: opening may read credentials from another backend.
        store = self._open(backend)
        with self._lock:
            opened = self._opened.setdefault(backend, store)
        if opened is not store:  # another thread opened it meanwhile
            store.close()
        return opened

    def _open(self, backend: str) -> SecretStore:
        spec = self.table.backends.get(backend) or BackendSpec(url=backend)
        options: dict[str, Any] = {**spec.options, **self._options.get(backend, {})}
        setting = spec.setting or f"secretsync.backends.{backend}"
        pointer = spec.credentials_from
        if pointer is None or "config" in options:
            return secrets.connect(spec.url, setting=setting, **options)
        return open_credentialed(
            lambda config: secrets.connect(spec.url, setting=setting, **options, config=config),
            lambda: self._credentials(pointer),
            name=backend,
            max_age=self.credentials_max_age,
            clock=self.clock,
        )

    def _credentials(self, pointer: SecretPointer) -> dict[str, Any]:
        store = self.get(pointer.backend)
        value = store.get_value(pointer.secret).value.reveal()
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return oci_config_from_json(text, f"secret {pointer}")

    def close(self) -> None:
        """Close the stores this object opened (not the ones it was given)."""
        with self._lock:
            opened, self._opened = list(self._opened.values()), {}
        for store in opened:
            store.close()
