"""Claims on documents, so that two ingests of the same documents never work on one at once.

An ingest claims a document (a lease in the kv store, ``rag/<collection>/claim/<doc id>``)
before it reads, embeds and writes it, and gives the claim back once the document's registry
entry has flipped and its stray chunks are swept. Another ingest that finds the claim taken goes
on with its other documents and comes back to this one when the claim is free: it then sees
the version the first one indexed and skips it, or indexes what changed since. So concurrent
ingests of one source share the work instead of doing it twice, a newer version is never
overwritten by an older one, and ingests of unrelated documents never wait for each other.

A claim lasts ``CLAIM_SECONDS`` (renewed before the flip): an ingest that dies holding claims
delays those documents by at most that long.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import Conflict
from skybridge.runtime.leases import Lease, LeaseManager

#: How long a claim lasts without renewal (seconds).
CLAIM_SECONDS = 900.0
_FIRST_POLL = 0.02
_LONGEST_POLL = 1.0


class DocumentClaims:
    """The claims one ingest holds on documents of a collection."""

    def __init__(self, kv: KeyValueStore, collection: str, *, ttl: float = CLAIM_SECONDS) -> None:
        self.leases = LeaseManager(kv, prefix=f"rag/{collection}/claim/")
        self.owner = uuid.uuid4().hex
        self.ttl = ttl
        self.held: dict[str, Lease] = {}

    def take(self, doc_id: str) -> bool:
        """Claim ``doc_id``; ``False`` when another ingest holds it."""
        lease = self.leases.acquire(doc_id, self.owner, self.ttl)
        if lease is None:
            return False
        self.held[doc_id] = lease
        return True

    def keep(self, doc_id: str) -> bool:
        """Renew the claim before writing what it guards; ``False`` if it was lost (it
        expired and another ingest took it). A document never claimed is always kept."""
        lease = self.held.get(doc_id)
        if lease is None:
            return True
        try:
            self.held[doc_id] = self.leases.renew(lease, self.ttl)
        except Conflict:
            self.held.pop(doc_id)
            return False
        return True

    def release(self, doc_ids: Iterable[str]) -> None:
        for doc_id in doc_ids:
            lease = self.held.pop(doc_id, None)
            if lease is not None:
                self.leases.release(lease)

    def release_all(self) -> None:
        self.release(list(self.held))

    def wait(self, doc_ids: Iterable[str]) -> None:
        """Return once one of ``doc_ids`` is claimed by nobody (released or expired)."""
        wanted = list(doc_ids)
        pause = _FIRST_POLL
        while wanted and all(self.leases.holder(d) is not None for d in wanted):
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_POLL)

    def take_waiting(self, doc_id: str) -> None:
        """Claim ``doc_id``, waiting while another ingest holds it."""
        while not self.take(doc_id):
            self.wait([doc_id])
