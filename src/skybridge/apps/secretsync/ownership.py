"""Ownership metadata on targets, and the rule that we never take over someone else's secret.

Every write sets, in the same call as the value (OCI: secret metadata; AWS: tags):

* ``secretsync-owner`` and ``secretsync-mapping``: who manages the target;
* ``secretsync-source`` and ``secretsync-source-version``: what was copied;
* ``secretsync-sha256``: SHA-256 of the payload written, to notice edits made elsewhere;
* ``secretsync-spec``: fingerprint of the mapping's transform, to notice table changes;
* ``secretsync-synced-at``: when (UTC, ISO 8601).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from skybridge.apps.secretsync.model import SecretMapping
from skybridge.core.errors import Conflict

OWNER = "secretsync-owner"
MAPPING = "secretsync-mapping"
SOURCE = "secretsync-source"
SOURCE_VERSION = "secretsync-source-version"
SHA256 = "secretsync-sha256"
SPEC = "secretsync-spec"
SYNCED_AT = "secretsync-synced-at"
KEYS = (OWNER, MAPPING, SOURCE, SOURCE_VERSION, SHA256, SPEC, SYNCED_AT)


class OwnershipConflict(Conflict):
    """The target exists and is not ours to overwrite (set ``adopt = true`` to take it)."""


@dataclass(frozen=True)
class Recorded:
    """What a target's metadata says about the last sync (all ``None`` when unmanaged)."""

    owner: str | None
    mapping: str | None
    source_version: str | None
    sha256: str | None
    spec: str | None
    #: When the recorded version was written (Unix time), if the metadata says.
    synced_at: float | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Recorded:
        return cls(
            synced_at=_unix_time(metadata.get(SYNCED_AT)),
            owner=metadata.get(OWNER),
            mapping=metadata.get(MAPPING),
            source_version=metadata.get(SOURCE_VERSION),
            sha256=metadata.get(SHA256),
            spec=metadata.get(SPEC),
        )


def _unix_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def ownership_metadata(
    owner: str,
    mapping: SecretMapping,
    source_id: str,
    source_version: str,
    sha256: str,
    synced_at: float,
) -> dict[str, str]:
    """The metadata written with every target version."""
    return {
        OWNER: owner,
        MAPPING: mapping.name,
        SOURCE: source_id,
        SOURCE_VERSION: source_version,
        SHA256: sha256,
        SPEC: mapping.transform_fingerprint(),
        SYNCED_AT: datetime.fromtimestamp(synced_at, UTC).isoformat(timespec="seconds"),
    }


def ownership_problem(owner: str, mapping: SecretMapping, recorded: Recorded) -> str | None:
    """Why we may not write an existing target, or ``None`` when we may."""
    if recorded.owner == owner and recorded.mapping == mapping.name:
        return None
    if mapping.adopt:
        return None
    if recorded.owner is None:
        return (
            f"target {mapping.target} exists without secretsync ownership metadata; "
            "set adopt = true on the mapping to take it over"
        )
    return (
        f"target {mapping.target} is managed by '{recorded.owner}' (mapping "
        f"'{recorded.mapping}'); set adopt = true on the mapping to take it over"
    )


def check_ownership(owner: str, mapping: SecretMapping, recorded: Recorded) -> None:
    """Raise :class:`OwnershipConflict` when the target belongs to someone else."""
    problem = ownership_problem(owner, mapping, recorded)
    if problem:
        raise OwnershipConflict(problem)
