"""OCI secret content: base64 encoding, the per-version value type, bundles to versions.

OCI stores every version as base64 and has metadata only per secret, so the names of binary
versions are kept in the reserved metadata key ``skybridge:binary-versions``; a version not
listed there is text (or bytes, when it is not UTF-8 because another tool wrote it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from oci.secrets.models import SecretBundle
from oci.vault.models import Base64SecretContentDetails

from skybridge.backends.secrets.oci_calls import BINARY_KEY, user_metadata, version_info
from skybridge.backends.secrets.types import SecretRef, SecretValue, SecretVersion
from skybridge.core.errors import NotFound
from skybridge.core.secret import Secret

#: OCI keeps at most 30 active + 30 pending-deletion versions, so older names can be dropped.
_BINARY_NAMES_KEPT = 60


def encode_content(value: SecretValue, version_id: str) -> Base64SecretContentDetails:
    encoded = base64.b64encode(value.as_bytes()).decode("ascii")
    return Base64SecretContentDetails(
        content_type="BASE64", content=encoded, name=version_id, stage="CURRENT"
    )


def with_value_type(
    existing: dict[str, Any], update: Mapping[str, str], value: SecretValue, version_id: str
) -> dict[str, Any]:
    """Metadata to send: ``existing`` + ``update``, with ``version_id``'s value type recorded."""
    names = [n for n in existing.get(BINARY_KEY) or [] if n != version_id]
    if value.is_binary:
        names.append(version_id)
    merged = {**existing, **update}
    merged.pop(BINARY_KEY, None)
    if names:
        merged[BINARY_KEY] = names[-_BINARY_NAMES_KEPT:]
    return merged


def version_from_bundle(ref: SecretRef, bundle: SecretBundle) -> SecretVersion:
    version_id = bundle.version_name or str(bundle.version_number)
    try:
        raw = base64.b64decode(bundle.secret_bundle_content.content or "")
    except (binascii.Error, ValueError):
        raise NotFound(
            f"secret '{ref.name}' version '{version_id}' has no base64 content"
        ) from None
    binary_names = (bundle.metadata or {}).get(BINARY_KEY) or []
    value: SecretValue
    if version_id in binary_names:
        value = Secret(raw)
    else:
        try:
            value = Secret(raw.decode("utf-8"))
        except UnicodeDecodeError:  # written by another tool: keep the bytes
            value = Secret(raw)
    info = version_info(
        version_id,
        bundle.stages or [],
        bundle.time_created,
        bundle.version_number,
        bundle.time_of_deletion,
    )
    return SecretVersion(ref, info, value, user_metadata(bundle.metadata))
