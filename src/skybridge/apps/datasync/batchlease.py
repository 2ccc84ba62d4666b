"""The owner of the lease one batch run holds, renewed while its steps work
(:class:`~skybridge.runtime.renewing.RenewingLease`).

Every run takes ``datasync/leases/<batch id>`` as an owner of its own, ``<run id>@<process>``
(:func:`run_owner`), so two runs of one batch never share a lease, in one process or in two;
whether a holder is gone is judged on its process part (:func:`holder_process`).
"""

from __future__ import annotations

import uuid

from skybridge.runtime.holders import this_process


def run_owner() -> str:
    """A new run's lease owner: ``<run id>@<this process>``."""
    return f"{uuid.uuid4().hex}@{this_process()}"


def holder_process(owner: str) -> str:
    """The process part of a lease owner (all of an owner without a run id)."""
    return owner.rpartition("@")[2]
