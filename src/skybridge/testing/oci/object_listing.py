"""ListObjects: prefix/start/end/startAfter filters, ``/`` delimiter, ``nextStartWith`` paging."""

from __future__ import annotations

from typing import Any

from skybridge.testing.oci.errors import ApiError
from skybridge.testing.oci.ids import rfc3339
from skybridge.testing.oci.objectstorage import Bucket, StoredObject

DEFAULT_LIMIT = 1000
FIELDS = (
    "name",
    "size",
    "etag",
    "timeCreated",
    "md5",
    "timeModified",
    "storageTier",
    "archivalState",
)


def _fields(query: dict[str, str]) -> list[str]:
    wanted = [f.strip() for f in query.get("fields", "name").split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FIELDS]
    if unknown:
        raise ApiError(400, "InvalidParameter", f"Unknown fields: {', '.join(unknown)}")
    return ["name", *[f for f in wanted if f != "name"]]


def _summary(name: str, stored: StoredObject, fields: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": name,
        "size": len(stored.data),
        "etag": stored.etag,
        "timeCreated": rfc3339(stored.created),
        "timeModified": rfc3339(stored.modified),
        "md5": stored.md5,
        "storageTier": "Standard",
        "archivalState": None,
    }
    return {field: values[field] for field in fields}


def _in_window(name: str, query: dict[str, str]) -> bool:
    if not name.startswith(query.get("prefix", "")):
        return False
    if query.get("start") and name < query["start"]:
        return False
    if query.get("startAfter") and name <= query["startAfter"]:
        return False
    return not (query.get("end") and name >= query["end"])


def list_objects(bucket: Bucket, query: dict[str, str], limit: int | None) -> dict[str, Any]:
    """The ListObjects body; ``limit`` counts objects and prefixes together."""
    limit = limit or DEFAULT_LIMIT
    if not 1 <= limit <= DEFAULT_LIMIT:
        raise ApiError(400, "InvalidParameter", f"limit must be between 1 and {DEFAULT_LIMIT}")
    delimiter = query.get("delimiter") or ""
    if delimiter not in ("", "/"):
        raise ApiError(400, "InvalidParameter", "The only supported delimiter is '/'")
    prefix = query.get("prefix", "")
    fields = _fields(query)
    entries: list[tuple[str, bool]] = []  # (name or prefix, is_prefix)
    for name in sorted(bucket.objects):
        if not _in_window(name, query):
            continue
        cut = name.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            common = name[: cut + 1]
            if not entries or entries[-1] != (common, True):
                entries.append((common, True))
            continue
        entries.append((name, False))
    page = entries[:limit]
    return {
        "objects": [
            _summary(n, bucket.objects[n], fields) for n, is_prefix in page if not is_prefix
        ],
        "prefixes": [n for n, is_prefix in page if is_prefix],
        "nextStartWith": entries[limit][0] if len(entries) > limit else None,
    }
