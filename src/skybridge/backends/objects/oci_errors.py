"""Translation of ``oci`` SDK errors into the skybridge error tree for the ``oci://`` store.

The classification shared by every OCI backend lives in :mod:`skybridge.backends.cloud.oci`;
this module adds Object Storage's own codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import oci

from skybridge.backends.cloud.oci import translate_client_side_error, translate_service_error
from skybridge.core.errors import NotFound, SkybridgeError

BUCKET_GONE = {"BucketNotFound", "NamespaceNotFound"}
_TRANSIENT_CODES = frozenset({"ConcurrentObjectUpdate"})
_SETTING = "backends.objects"


def translate_object_error(exc: oci.exceptions.ServiceError, key: str) -> SkybridgeError:
    """The skybridge error for an OCI ``ServiceError`` raised while working on ``key``."""
    status, code = int(exc.status), str(exc.code)
    text = f"OCI Object Storage {status} {code} on {key!r}"
    if code in BUCKET_GONE:
        return NotFound(f"{text}: the bucket or namespace does not exist")
    return translate_service_error(
        exc,
        text,
        not_found=f"object {key!r} does not exist ({code})",
        transient_codes=_TRANSIENT_CODES,
    )


@contextmanager
def oci_errors(key: str) -> Iterator[None]:
    """Raise skybridge errors instead of ``oci`` ones."""
    try:
        yield
    except oci.exceptions.ServiceError as exc:
        raise translate_object_error(exc, key) from exc
    except Exception as exc:
        error = translate_client_side_error(
            exc, unreachable=f"OCI unreachable or slow on {key!r}", setting=_SETTING
        )
        if error is None:
            raise
        raise error from exc
