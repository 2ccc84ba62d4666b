"""Which mappings an event concerns, and what its OCI hints say about their targets.

A mapping's source may be a name, a partial ARN (no suffix) or a full ARN (AWS adds ``-`` and
6 random characters to the name), and a name may itself end in ``-XXXXXX``. An ARN that AWS
wrote into the event (``resources``, ``responseElements.arn``) is known to be full; one that a
caller gave (``requestParameters.secretId``, the article's ``aws_secret_arn``) may be either.
So a match is ``exact`` (no reading needed) or ``possible`` (a caller's ARN read as a full
one), and :func:`match_mappings` takes the possible ones only when nothing matches exactly.
A wrong possible match costs little: a sync reads the mapping's own source, never the event's.

The article's input-transformer event also names the OCI target (``oci_secret_ocid``,
``oci_vault_id``, ``oci_key_id``). The mapping table alone decides the target:
:func:`hint_conflicts` lists the hints that contradict it, so they can be reported and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from skybridge.apps.secretsync.events import ARN_PATTERN, ARN_SUFFIX, SecretEvent, shown
from skybridge.apps.secretsync.model import MappingTable, SecretMapping
from skybridge.core.errors import ConfigError
from skybridge.core.urls import BackendURL

Match = Literal["exact", "possible"]


@dataclass(frozen=True)
class _Side:
    """One way of naming a secret: a name, or the part of an ARN after ``:secret:``."""

    prefix: str | None  # "arn:<partition>:secretsmanager:<region>:<account>:secret:" or None
    text: str
    full: bool = False  # an ARN known to end in the random suffix

    @classmethod
    def of(cls, secret: str, *, full: bool = False) -> _Side:
        found = ARN_PATTERN.fullmatch(secret)
        if found is None:
            return cls(None, secret)
        return cls(found.group(1), found.group(2), full)

    def as_full(self) -> str | None:
        """The name, reading this as a full ARN (``None``: a name, or no suffix)."""
        if self.prefix is None or len(self.text) <= 7 or not ARN_SUFFIX.fullmatch(self.text[-7:]):
            return None
        return self.text[:-7]


def _compare(a: _Side, b: _Side) -> Match | None:
    if a.prefix and b.prefix and a.prefix != b.prefix:
        return None  # another partition, region or account: not ours
    if a.full and b.full:
        return "exact" if a.text == b.text else None
    if a.full or b.full:
        full, other = (a, b) if a.full else (b, a)
        name = full.as_full() or full.text
        if other.prefix is None:
            return "exact" if other.text == name else None
        return "exact" if other.text in (full.text, name) else None  # the same, or partial
    if a.text == b.text:
        return "exact"  # the same name, the same ARN, or a partial ARN of that name
    if a.as_full() == b.text or b.as_full() == a.text:
        return "possible"  # an ARN a caller gave, read as the full ARN of the other
    return None


def source_match(source: str, event: SecretEvent) -> Match | None:
    """Whether a mapping's ``source`` (name, partial or full ARN) is the event's secret.

    ``exact``: the names are equal, the ARNs are equal, or one is a partial ARN and the other
    a full ARN that AWS wrote, equal to it plus ``-`` and 6 characters. ``possible``: the same
    with an ARN that a caller gave read as a full ARN (``...:secret:prod/db-backup`` may be the
    full ARN of ``prod/db`` or the partial ARN of ``prod/db-backup``). ARNs of another
    partition, region or account never match.
    """
    mine = _Side.of(source)
    theirs = _Side.of(event.secret, full=event.arn_is_full)
    if mine.prefix is not None and theirs.prefix is not None:
        return _compare(mine, theirs)
    found = {_compare(mine, theirs)}
    if event.name:
        found.add(_compare(mine, _Side.of(event.name)))
    return "exact" if "exact" in found else "possible" if "possible" in found else None


def match_mappings(table: MappingTable, event: SecretEvent) -> list[SecretMapping]:
    """The mappings whose source is the event's secret: the exact matches, or else the
    possible ones (see the module docstring)."""
    found: dict[Match, list[SecretMapping]] = {"exact": [], "possible": []}
    for mapping in table.mappings:
        if event.backend is not None and event.backend != mapping.source.backend:
            continue
        how = source_match(mapping.source.secret, event)
        if how is not None:
            found[how].append(mapping)
    return found["exact"] or found["possible"]


def _target_url(table: MappingTable, mapping: SecretMapping) -> BackendURL | None:
    spec = table.backends.get(mapping.target.backend)
    try:
        return BackendURL.parse(spec.url if spec else mapping.target.backend)
    except ConfigError:
        return None


def hint_conflicts(
    table: MappingTable, mapping: SecretMapping, hints: Mapping[str, str]
) -> dict[str, str]:
    """The event's OCI hints that contradict ``mapping``'s target, each with the reason.

    A hint the table cannot confirm is no conflict: ``oci_secret_ocid`` when the target is
    named by name (only the vault knows its OCID), ``oci_key_id`` when the URL has no ``key``.
    """
    url = _target_url(table, mapping)
    if url is None or url.scheme != "oci-vault":
        where = f"a {url.scheme}://" if url else "an unknown"
        return dict.fromkeys(hints, f"the mapping's target is in {where} backend, not OCI Vault")
    target = mapping.target.secret
    table_says = {
        "oci_vault_id": url.rest.strip("/"),
        "oci_key_id": url.params.get("key") or None,
        "oci_secret_ocid": target if target.startswith("ocid1.") else None,
    }
    return {
        key: f"the event says {shown(value, 120)}, the table {table_says[key]}"
        for key, value in hints.items()
        if table_says.get(key) is not None and table_says[key] != value
    }
