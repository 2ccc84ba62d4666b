"""Value types of the secrets family: references, versions, descriptions.

Every type is immutable, and none of them can print a secret value: values travel as
:class:`~skybridge.core.secret.Secret` and are left out of ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TypeAlias

from skybridge.core.secret import Secret

#: A secret value: text (AWS ``SecretString``) or binary (AWS ``SecretBinary``).
SecretValue: TypeAlias = Secret[str] | Secret[bytes]

CURRENT = "current"
PENDING = "pending"
PREVIOUS = "previous"
DEPRECATED = "deprecated"
#: The normalised stages every backend reports (next to its native stage names).
STAGES = (CURRENT, PENDING, PREVIOUS, DEPRECATED)
_LABELLED = frozenset({CURRENT, PENDING, PREVIOUS})


@dataclass(frozen=True)
class SecretRef:
    """Which secret: its name and the backend's id for it (ARN, OCID, local id)."""

    name: str
    secret_id: str


@dataclass(frozen=True)
class VersionInfo:
    """One version of a secret, without its value.

    Attributes:
        version_id: AWS ``VersionId``, OCI version name (or number when unnamed), local id.
        stages: Normalised stages (``current``, ``pending``, ``previous``, ``deprecated``).
        native_stages: The backend's own labels (``AWSCURRENT``, ``DEPRECATED``, custom ones).
        created: When the version was written, if known.
        number: OCI's version number; ``None`` elsewhere.
        deletion_scheduled: When a scheduled version deletion takes effect, if any.
    """

    version_id: str
    stages: frozenset[str]
    native_stages: tuple[str, ...] = ()
    created: datetime | None = None
    number: int | None = None
    deletion_scheduled: datetime | None = None

    @property
    def is_current(self) -> bool:
        return CURRENT in self.stages

    @property
    def is_deprecated(self) -> bool:
        """True when no stage keeps this version alive, so it may be deleted or pruned."""
        return DEPRECATED in self.stages or not (self.stages & _LABELLED)

    @property
    def is_active(self) -> bool:
        """Counts against a backend's active-version limit (not scheduled for deletion)."""
        return self.deletion_scheduled is None


@dataclass(frozen=True)
class SecretVersion:
    """A secret version together with its value (masked in ``repr`` and ``str``).

    ``metadata`` is the secret's metadata when the read returned it at no extra cost (OCI
    bundles, local); ``None`` when the backend would need another call (AWS tags).
    """

    secret: SecretRef
    version: VersionInfo
    value: SecretValue = field(repr=False)
    metadata: Mapping[str, str] | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.secret.name

    @property
    def version_id(self) -> str:
        return self.version.version_id

    @property
    def stages(self) -> frozenset[str]:
        return self.version.stages

    @property
    def is_binary(self) -> bool:
        return self.value.is_binary

    def sha256(self) -> str:
        """Hex SHA-256 of the value's bytes: safe to log and to store as a drift marker."""
        return self.value.sha256()


@dataclass(frozen=True)
class SecretInfo:
    """What a backend knows about a secret, without any value.

    Attributes:
        ref: Name and id.
        description: Free text, if any.
        metadata: AWS tags / OCI secret metadata / local metadata, as strings.
        versions: Every version the backend still lists, oldest first where known.
        created: Creation time, if known.
        changed: Last change time, if known.
        deletion_date: When a scheduled deletion of the whole secret takes effect.
    """

    ref: SecretRef
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    versions: tuple[VersionInfo, ...] = ()
    created: datetime | None = None
    changed: datetime | None = None
    deletion_date: datetime | None = None

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def secret_id(self) -> str:
        return self.ref.secret_id

    @property
    def current_version(self) -> VersionInfo | None:
        return next((v for v in self.versions if v.is_current), None)

    @property
    def current_version_id(self) -> str | None:
        """The version id holding the ``current`` stage (what reconciliation compares)."""
        current = self.current_version
        return current.version_id if current else None

    @property
    def pending_deletion(self) -> bool:
        return self.deletion_date is not None


@dataclass(frozen=True)
class SecretChange:
    """One change to a secret reported by a store's change feed (capability ``change_feed``).

    Attributes:
        secret_id: The backend's id of the secret (OCID).
        name: The secret's name, when the feed (or the store's cache) knows it.
        operation: The service operation, e.g. ``UpdateSecret`` or ``ScheduleSecretDeletion``.
        time: When the change happened (the service's clock).
        principal_id: Who made it (OCI user or principal OCID), when known.
    """

    secret_id: str
    name: str | None
    operation: str
    time: datetime
    principal_id: str | None = None

    def concerns(self, secret: str) -> bool:
        """Whether this change is about ``secret`` (a name or an id)."""
        return secret in (self.secret_id, self.name)


@dataclass(frozen=True)
class ChangeFeed:
    """The changes a store reported for the window ``[since, until)``.

    ``since`` and ``until`` are the window actually queried, which may be wider than asked
    (OCI Audit takes whole minutes). Changes can be reported late (OCI: usually within 15
    minutes), so a reader should re-query an overlap before its last ``until``.
    """

    since: datetime
    until: datetime
    changes: tuple[SecretChange, ...] = ()

    def about(self, secret: str) -> list[SecretChange]:
        """The changes concerning ``secret`` (a name or an id), oldest first."""
        return list(self._by_secret.get(secret, ()))

    @cached_property
    def _by_secret(self) -> dict[str, list[SecretChange]]:
        # A reconcile asks about every target: an index keeps that linear in the feed's size.
        index: dict[str, list[SecretChange]] = {}
        for change in self.changes:
            for key in dict.fromkeys((change.secret_id, change.name)):
                if key is not None:
                    index.setdefault(key, []).append(change)
        return index
