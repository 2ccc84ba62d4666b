"""Where every source stands (current version id, deleted or not), in as few calls as honest.

A reconcile needs, per mapping, the source's current version id. ``DescribeSecret`` per secret
costs one call each; AWS ``ListSecrets`` returns ``SecretVersionsToStages`` for 100 secrets per
page, so for many mappings one listing (filtered on the mapped names' common prefix, stopped as
soon as every mapped secret was seen) replaces N describes.

``ListSecrets`` is eventually consistent, so the listing only answers the ordinary case: the
secret exists, is not being deleted, and names an AWSCURRENT version. Anything else (missing,
deleted, no current version) is asked again with ``describe``, which is consistent, before a
reconcile acts on it. A stale version id in the listing costs at most a wasted read: the write
path re-reads the value with ``batch_get_values`` and skips targets that already hold it.

The listing calls the store's boto3 client through the store's own error translation, because
the ``secrets`` contract has no bulk describe yet (``SecretStore.describe_many`` would be its home).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from skybridge.apps.secretsync.events import arn_name
from skybridge.backends.secrets import SecretStore
from skybridge.backends.secrets.types import (
    CURRENT,
    DEPRECATED,
    SecretInfo,
    SecretRef,
    VersionInfo,
)
from skybridge.core.retry import RetryPolicy, call_with_retry

#: Below this many mapped secrets on one AWS backend, per-secret describes are cheaper than a
#: listing that may page through unrelated secrets.
LIST_THRESHOLD = 20
_PAGE = 100


def list_sources(
    store: SecretStore, secrets: list[str], retry: RetryPolicy
) -> dict[str, SecretInfo]:
    """Descriptions of the ``secrets`` (names or ARNs) that a bulk listing answers for sure.

    Secrets left out must be described one by one. Returns ``{}`` for stores without a bulk
    listing or when there are too few secrets for one to pay off. The listing stops once its
    pages outnumber the secrets still missing, so it never costs more than twice the describes
    it replaces (an account full of unrelated secrets with no common name prefix).
    """
    if store.scheme != "aws-sm" or len(set(secrets)) < LIST_THRESHOLD:
        return {}
    wanted = set(secrets)
    found: dict[str, SecretInfo] = {}
    prefix = common_prefix([arn_name(s) for s in secrets])
    for calls, page in enumerate(_aws_pages(store, prefix, retry), start=1):
        for info in filter(None, map(_info, page)):
            found.update({k: info for k in (info.name, info.secret_id) if k in wanted})
        missing = len(wanted) - len(found)
        # Done, or the listing has already cost as much as describing the rest would.
        if missing == 0 or calls >= missing:
            break
    return found


def common_prefix(names: list[str]) -> str:
    """The longest string every name starts with (character by character, not by path)."""
    if not names:
        return ""
    low, high = min(names), max(names)
    size = 0
    while size < min(len(low), len(high)) and low[size] == high[size]:
        size += 1
    return low[:size]


def _aws_pages(store: Any, prefix: str, retry: RetryPolicy) -> Iterator[list[Mapping[str, Any]]]:
    kwargs: dict[str, Any] = {"MaxResults": _PAGE, "IncludePlannedDeletion": True}
    if prefix:
        kwargs["Filters"] = [{"Key": "name", "Values": [prefix]}]
    while True:
        page = call_with_retry(
            lambda: store._call(
                "ListSecrets", prefix or "*", lambda: store.client.list_secrets(**kwargs)
            ),
            retry,
            operation="secretsync.list_sources",
        )
        yield list(page.get("SecretList", []))
        if not page.get("NextToken"):
            return
        kwargs["NextToken"] = page["NextToken"]


def _info(entry: Mapping[str, Any]) -> SecretInfo | None:
    """A description from a listing entry, or ``None`` if only ``describe`` can be trusted."""
    if entry.get("DeletedDate"):
        return None
    stages: Mapping[str, list[str]] = entry.get("SecretVersionsToStages") or {}
    versions = tuple(
        VersionInfo(
            vid,
            frozenset({CURRENT} if "AWSCURRENT" in labels else {DEPRECATED}),
            tuple(labels),
        )
        for vid, labels in stages.items()
    )
    if not any(v.is_current for v in versions):
        return None
    return SecretInfo(
        ref=SecretRef(entry["Name"], entry["ARN"]),
        versions=versions,
        created=entry.get("CreatedDate"),
        changed=entry.get("LastChangedDate"),
    )
