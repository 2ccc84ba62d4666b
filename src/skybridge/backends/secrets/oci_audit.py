"""The ``change_feed`` of ``oci-vault://``: Vault writes read back from the OCI Audit service.

``AuditClient.list_events`` lists a compartment's audit events in a time window given to the
minute. Every page is read; events are kept when they are Vault *writes* (reads and listings
are audited too, and ignored here) on a vault secret, and not marked as another vault's.
Audit events are "usually" listed within 15 minutes of the call (OCI docs, Viewing Audit Log
Events), so readers must re-read an overlap. Needs ``read audit-events`` on the compartment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from skybridge.backends.secrets.types import ChangeFeed, SecretChange

#: Vault operations that change a secret (its content, stages, metadata or lifecycle).
WRITES = frozenset(
    {
        "CreateSecret",
        "UpdateSecret",
        "ScheduleSecretDeletion",
        "CancelSecretDeletion",
        "ScheduleSecretVersionDeletion",
        "CancelSecretVersionDeletion",
        "ChangeSecretCompartment",
        "RotateSecret",
    }
)
_VAULT_SECRET = "ocid1.vaultsecret."  # noqa: S105 (an OCID prefix)
_MINUTE = timedelta(minutes=1)
Pages = Callable[..., Iterator[Any]]


def minute_window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """``[since, until)`` widened to whole minutes (Audit refuses seconds)."""
    start = since.astimezone(UTC).replace(second=0, microsecond=0)
    end = until.astimezone(UTC)
    if end.second or end.microsecond:
        end = end.replace(second=0, microsecond=0) + _MINUTE
    return start, max(end, start + _MINUTE)


def read_feed(
    pages: Pages,
    compartment_id: str,
    vault_id: str,
    since: datetime,
    until: datetime,
    name_of: Callable[[str], str | None],
) -> ChangeFeed:
    """The Vault writes of ``vault_id``'s compartment in ``[since, until)`` (whole minutes).

    Args:
        pages: yields the events of every page of ``list_events(compartment, start, end)``.
        name_of: the secret name for an OCID when the event carries none (``None``: unknown).
    """
    start, end = minute_window(since, until)
    changes = [
        change
        for event in pages(compartment_id, start, end)
        if (change := _change(event, vault_id, name_of)) is not None
    ]
    changes.sort(key=lambda c: c.time)
    return ChangeFeed(start, end, tuple(changes))


def _change(event: Any, vault_id: str, name_of: Callable[[str], str | None]) -> SecretChange | None:
    data = event.data
    if data is None:
        return None
    operation = data.event_name or str(event.event_type or "").rsplit(".", 1)[-1]
    resource = data.resource_id or ""
    if operation not in WRITES or not resource.startswith(_VAULT_SECRET):
        return None
    details = data.additional_details if isinstance(data.additional_details, dict) else {}
    if details.get("vaultId") not in (None, vault_id):
        return None  # another vault in the same compartment
    identity = data.identity
    when = event.event_time or datetime.now(UTC)
    return SecretChange(
        secret_id=resource,
        name=data.resource_name or name_of(resource),
        operation=operation,
        time=when if when.tzinfo else when.replace(tzinfo=UTC),
        principal_id=identity.principal_id if identity is not None else None,
    )
