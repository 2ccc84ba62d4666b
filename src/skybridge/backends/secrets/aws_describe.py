"""Secrets Manager descriptions: from ``DescribeSecret`` and, in bulk, from ``ListSecrets``.

``ListSecrets`` returns, per secret, what ``DescribeSecret`` does (``SecretVersionsToStages``
instead of ``VersionIdsToStages``) for 100 secrets per page, so for many secrets one listing
filtered on their common name prefix replaces many describes. The listing is eventually
consistent: an entry is trusted only when the secret exists, is not scheduled for deletion and
names an AWSCURRENT version. Everything else is described again (consistently) by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from skybridge.backends.secrets.types import (
    CURRENT,
    DEPRECATED,
    PENDING,
    PREVIOUS,
    SecretInfo,
    SecretRef,
    VersionInfo,
)

NATIVE_STAGES = {CURRENT: "AWSCURRENT", PENDING: "AWSPENDING", PREVIOUS: "AWSPREVIOUS"}
_NORMAL = {v: k for k, v in NATIVE_STAGES.items()}
#: Below this many secrets, per-secret ``DescribeSecret`` calls are cheaper than a listing that
#: may page through unrelated secrets.
LIST_THRESHOLD = 20
#: ``ListSecrets`` page size (the service's maximum).
LIST_PAGE = 100


def version_info(version_id: str, native: list[str], created: Any = None) -> VersionInfo:
    """A :class:`VersionInfo` from Secrets Manager's labels."""
    stages = frozenset(_NORMAL.get(s, s) for s in native) or frozenset({DEPRECATED})
    return VersionInfo(version_id, stages, tuple(native), created)


def secret_info(response: Mapping[str, Any], versions_key: str) -> SecretInfo:
    """A description from a ``DescribeSecret`` response or a ``ListSecrets`` entry."""
    stages: Mapping[str, list[str]] = response.get(versions_key) or {}
    return SecretInfo(
        ref=SecretRef(response["Name"], response["ARN"]),
        description=response.get("Description"),
        metadata={t["Key"]: t["Value"] for t in response.get("Tags") or []},
        versions=tuple(version_info(vid, labels) for vid, labels in stages.items()),
        created=response.get("CreatedDate"),
        changed=response.get("LastChangedDate"),
        deletion_date=response.get("DeletedDate"),
    )


def trusted_entry(entry: Mapping[str, Any]) -> SecretInfo | None:
    """The description in a listing entry, or ``None`` if only ``describe`` can be trusted."""
    info = secret_info(entry, "SecretVersionsToStages")
    if info.pending_deletion or info.current_version_id is None:
        return None
    return info


def match_listing(
    pages: Iterable[list[Mapping[str, Any]]], wanted: set[str]
) -> dict[str, SecretInfo]:
    """Descriptions of the ``wanted`` names or ARNs that listing ``pages`` answer for sure.

    Stops reading pages once every wanted secret was seen, or once the pages read outnumber
    the secrets still missing: the listing then never costs more than twice the describes it
    replaces (an account full of unrelated secrets with no common name prefix).
    """
    found: dict[str, SecretInfo] = {}
    for calls, page in enumerate(pages, start=1):
        for info in filter(None, map(trusted_entry, page)):
            found.update({k: info for k in (info.name, info.secret_id) if k in wanted})
        missing = len(wanted) - len(found)
        if missing == 0 or calls >= missing:
            break
    return found


def name_filter(secrets: Iterable[str]) -> str:
    """The ``ListSecrets`` name prefix every one of ``secrets`` (names or ARNs) starts with."""
    return common_prefix([arn_name(s) for s in secrets])


def common_prefix(names: list[str]) -> str:
    """The longest string every name starts with (character by character, not by path)."""
    if not names:
        return ""
    low, high = min(names), max(names)
    size = 0
    while size < min(len(low), len(high)) and low[size] == high[size]:
        size += 1
    return low[:size]


def arn_name(secret: str) -> str:
    """The secret name inside an ARN (without the 6-character suffix); names pass through.

    A partial ARN whose name ends in ``-xxxxxx`` loses that part too, which only shortens a
    prefix computed from it: the filter stays correct.
    """
    if not secret.startswith("arn:"):
        return secret
    name = secret.split(":secret:", 1)[-1]
    head, dash, suffix = name.rpartition("-")
    return head if dash and len(suffix) == 6 else name
