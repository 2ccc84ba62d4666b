"""A local OCI API emulator: Vault + Secrets, Audit, Object Storage, Notifications, Compute and
the Usage API over HTTP.

The real ``oci`` SDK clients talk to it unchanged through ``service_endpoint``; it verifies
request signatures, keeps state in memory and injects faults on demand::

    from skybridge.testing.oci import OciEmulator

    with OciEmulator() as emu:
        vault_id, key_id = emu.create_vault()
        client = oci.vault.VaultsClient(emu.sdk_config(), service_endpoint=emu.endpoint)

Behaviour chosen to match the real service (status / code):

- taken secret name (also while PENDING_DELETION) and duplicate version name: 400
  InvalidParameter "name already exists" (oracle/terraform-provider-oci#1913,
  external-secrets/external-secrets#6771);
- a 31st active version or a 31st version pending deletion: 400 LimitExceeded;
- deleting a version that is not DEPRECATED, writing a secret that is not ACTIVE: 409
  IncorrectState; stale ``if-match``: 412 PreconditionFailed;
- reading a PENDING_DELETION secret's bundle (by id or name): 404 NotAuthorizedOrNotFound;
- bad or missing signature, body hash mismatch, ``date`` more than 5 minutes off: 401
  NotAuthenticated.

Simplified: lifecycle transitions are immediate (no CREATING/UPDATING states); scheduled
deletions happen lazily when the emulator's clock passes ``timeOfDeletion``; secret content is
limited to 25 KiB decoded (a commonly cited figure, unconfirmed); rotation, replication, secret
rules and auto-generation are not modelled; Object Storage has no versioning, tiers, PARs or
minimum part size; Notifications only record published messages (no subscriptions); Compute
has no launch route (tests call ``emu.launch_instance``) and transitions are immediate; the
Usage API summarises DAILY cost of items recorded with ``emu.add_usage`` (times must be exact
UTC midnights, one ``groupByTag``).
"""

from skybridge.testing.oci.emulator import OciEmulator
from skybridge.testing.oci.errors import ApiError
from skybridge.testing.oci.faults import Faults
from skybridge.testing.oci.notifications import PublishedMessage
from skybridge.testing.oci.usage import UsageItem

__all__ = ["ApiError", "Faults", "OciEmulator", "PublishedMessage", "UsageItem"]
