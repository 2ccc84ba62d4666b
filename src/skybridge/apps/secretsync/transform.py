"""From a source value to the payload written to the target: JSON fields, renames, binary.

Errors raised here are :class:`PoisonPayload`: retrying cannot help, so the event goes to the
dead letters with the reason. Messages name fields and mappings, never values.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from skybridge.apps.secretsync.model import Binary, SecretMapping
from skybridge.backends.secrets import SecretValue
from skybridge.core.errors import ValidationError
from skybridge.core.secret import Secret


class PoisonPayload(ValidationError):
    """The source value cannot be turned into a target payload under this mapping."""


def _json_object(mapping: SecretMapping, value: SecretValue) -> dict[str, Any]:
    raw = value.reveal()
    if isinstance(raw, bytes):
        raise PoisonPayload(
            f"mapping '{mapping.name}': source value is binary but the mapping selects or "
            "renames JSON fields",
            hint="remove fields/rename, or store the source as JSON text",
        )
    try:
        document = json.loads(raw)
    except ValueError:
        raise PoisonPayload(
            f"mapping '{mapping.name}': source value is not JSON but the mapping selects or "
            "renames JSON fields",
            hint="store the source as a JSON object, or remove fields/rename",
        ) from None
    if not isinstance(document, dict):
        raise PoisonPayload(
            f"mapping '{mapping.name}': source JSON is a {type(document).__name__}, "
            "not an object; fields need an object"
        )
    return document


def _select(mapping: SecretMapping, document: dict[str, Any], path: str) -> Any:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise PoisonPayload(
                f"mapping '{mapping.name}': field '{path}' is missing from the source JSON",
                hint="add the field to the source secret or fix fields in the mapping table",
            )
        node = node[part]
    return node


def _dump(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def build_payload(mapping: SecretMapping, value: SecretValue) -> SecretValue:
    """The value to write to the target for ``value`` under ``mapping``."""
    if mapping.fields is not None:
        document = _json_object(mapping, value)
        picked = {path: _select(mapping, document, path) for path in mapping.fields}
        if mapping.field_format == "raw":
            only = next(iter(picked.values()))
            return Secret(only if isinstance(only, str) else _dump(only))
        return Secret(_dump({mapping.rename.get(k, k): v for k, v in picked.items()}))
    if mapping.rename:
        document = _json_object(mapping, value)
        return Secret(_dump({mapping.rename.get(k, k): v for k, v in document.items()}))
    raw = value.reveal()
    if isinstance(raw, bytes):
        if mapping.binary is Binary.REJECT:
            raise PoisonPayload(
                f"mapping '{mapping.name}': source value is binary and binary = 'reject'",
                hint="set binary = 'preserve' or 'base64' in the mapping",
            )
        if mapping.binary is Binary.BASE64:
            return Secret(base64.b64encode(raw).decode("ascii"))
    return value


def check_size(mapping: SecretMapping, payload: SecretValue, limit: int, where: str) -> None:
    """Refuse a payload over the target's size limit before any write."""
    size = len(payload)
    if size > limit:
        raise PoisonPayload(
            f"mapping '{mapping.name}': payload is {size} bytes; {where} accepts at most {limit}",
            hint="select fewer fields, or raise max_value_size on the target URL if the "
            "service allows it",
        )
