"""Translation of ``oci`` SDK errors into the skybridge error tree for the ``oci://`` store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import oci

from skybridge.core.errors import (
    ConfigError,
    Conflict,
    NotFound,
    SkybridgeError,
    TerminalError,
    TransientError,
)

BUCKET_GONE = {"BucketNotFound", "NamespaceNotFound"}
_TRANSIENT_CODES = {"ConcurrentObjectUpdate"}
_NETWORK = (
    oci.exceptions.RequestException,
    oci.exceptions.ConnectTimeout,
    oci._vendor.requests.exceptions.RequestException,
)


def translate_service_error(exc: oci.exceptions.ServiceError, key: str) -> SkybridgeError:
    """The skybridge error for an OCI ``ServiceError`` raised while working on ``key``."""
    status, code = int(exc.status), str(exc.code)
    text = f"OCI Object Storage {status} {code} on {key!r}"
    if code in BUCKET_GONE:
        return NotFound(f"{text}: the bucket or namespace does not exist")
    if status == 404:
        return NotFound(f"object {key!r} does not exist ({code})")
    if status == 429 or status >= 500 or status == -1 or code in _TRANSIENT_CODES:
        retry_after = (exc.headers or {}).get("retry-after")
        return TransientError(text, retry_after=float(retry_after) if retry_after else None)
    if status in (409, 412):
        return Conflict(text)
    if status == 401:
        return TerminalError(text, hint="check the OCI user, fingerprint and API key")
    return TerminalError(text)  # 400, 403, 413 and other refusals


@contextmanager
def oci_errors(key: str) -> Iterator[None]:
    """Raise skybridge errors instead of ``oci`` ones."""
    try:
        yield
    except oci.exceptions.ServiceError as exc:
        raise translate_service_error(exc, key) from exc
    except _NETWORK as exc:
        raise TransientError(f"OCI unreachable or slow on {key!r}: {type(exc).__name__}") from exc
    except (
        oci.exceptions.ClientError,
        oci.exceptions.MissingEndpointForNonRegionalServiceClientError,
    ) as exc:
        raise ConfigError(f"OCI client configuration: {exc}") from exc
    except Exception as exc:
        if type(exc).__name__ == "CircuitBreakerError":
            raise TransientError(f"OCI circuit breaker open on {key!r}") from exc
        raise
