"""Calling the OCI clients: retries, metrics, error translation, pagination, conversions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from skybridge.backends.secrets.oci_errors import translate
from skybridge.backends.secrets.types import DEPRECATED, VersionInfo
from skybridge.core.observability import observe_call
from skybridge.core.retry import RetryPolicy, call_with_retry

#: Reserved metadata key: names of the versions whose value is binary.
BINARY_KEY = "skybridge:binary-versions"
_NORMAL = {"CURRENT": "current", "PENDING": "pending", "PREVIOUS": "previous", "LATEST": "latest"}
_NORMAL[DEPRECATED.upper()] = DEPRECATED


def version_info(
    version_id: str,
    native: Sequence[str],
    created: datetime | None,
    number: int | None,
    deletion: datetime | None = None,
) -> VersionInfo:
    """A :class:`VersionInfo` from OCI's stage names."""
    stages = frozenset(_NORMAL.get(s, s) for s in native)
    return VersionInfo(version_id, stages, tuple(native), created, number, deletion)


def user_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """OCI secret metadata as strings, without skybridge's reserved keys."""
    return {
        k: v if isinstance(v, str) else json.dumps(v)
        for k, v in (metadata or {}).items()
        if not k.startswith("skybridge:")
    }


class OciCalls:
    """The OCI clients behind one call path (the SDK's own retries are switched off)."""

    def __init__(
        self, vaults: Any, secrets: Any, retry: RetryPolicy | None, audit: Any = None
    ) -> None:
        self.vaults = vaults
        self.secrets = secrets
        self.audit = audit
        self.retry = retry

    def _run(
        self, operation: str, secret: str, fn: Callable[[], Any], *, retry: bool = True
    ) -> Any:
        def once() -> Any:
            with observe_call("secrets", "oci-vault", operation):
                try:
                    return fn()
                except Exception as exc:
                    raise translate(exc, operation=operation, secret=secret) from None

        if retry and self.retry is not None:
            return call_with_retry(once, self.retry, operation=f"oci-vault.{operation}")
        return once()

    def vault(
        self, operation: str, secret: str, method: str, *args: Any, retry: bool = True, **kw: Any
    ) -> Any:
        """Call ``VaultsClient.<method>``."""
        fn = getattr(self.vaults, method)
        return self._run(operation, secret, lambda: fn(*args, **kw), retry=retry)

    def bundle(self, operation: str, secret: str, method: str, *args: Any, **kw: Any) -> Any:
        """Call ``SecretsClient.<method>``."""
        fn = getattr(self.secrets, method)
        return self._run(operation, secret, lambda: fn(*args, **kw))

    def pages(
        self,
        operation: str,
        secret: str,
        method: str,
        *args: Any,
        client: str = "vaults",
        **kw: Any,
    ) -> Iterator[Any]:
        """Every item of a paginated list call of ``VaultsClient`` (or ``client="audit"``)."""
        fn = getattr(getattr(self, client), method)
        page: str | None = None
        while True:
            extra: dict[str, Any] = {"page": page} if page else {}
            response = self._run(
                operation,
                secret,
                lambda: fn(*args, **kw, **extra),  # noqa: B023
            )
            yield from response.data
            page = response.next_page if response.has_next_page else None
            if not page:
                return
