"""Claims on documents, so that two ingests of the same documents never work on one at once.

An ingest claims a document (a lease in the kv store, ``rag/<collection>/claim/<doc id>``)
before it reads, embeds and writes it, and gives the claim back once the document's registry
entry has flipped and its stray chunks are swept. Another ingest that finds the claim taken goes
on with its other documents and comes back to this one when the claim is free: it then sees
the version the first one indexed and skips it, or indexes what changed since. So concurrent
ingests of one source share the work instead of doing it twice, a newer version is never
overwritten by an older one, and ingests of unrelated documents never wait for each other.

A claim names the process that holds it (:func:`skybridge.runtime.holders.this_process`), so
a claim whose process was killed outright (SIGKILL, OOM killer) is taken over at once by an
ingest on the same host. A claim lasts ``rag.claim_seconds`` (60 by default) and is renewed
every quarter of that while its ingest runs (:meth:`DocumentClaims.renewing`), however long a
batch takes to embed; one left by a process on another host lapses after ``rag.claim_seconds``.
Nobody waits for a claim without end: a document still claimed by a live ingest after
``wait_seconds`` (``rag.ingest_wait_seconds`` for an ingest, ``rag.event_wait_seconds`` for an
upload or delete event) raises :class:`ClaimBusy`, which names the document and its holder.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from skybridge.apps.rag.config import CLAIM_SECONDS, INGEST_WAIT_SECONDS
from skybridge.backends.kv import KeyValueStore
from skybridge.core.clock import SYSTEM_CLOCK, Clock, duration_text, when
from skybridge.core.errors import Conflict, SkybridgeError, TransientError
from skybridge.core.observability import get_logger
from skybridge.core.periodic import Periodic
from skybridge.runtime.holders import describe, holder_gone, this_process
from skybridge.runtime.leases import Lease, LeaseManager

log = get_logger(__name__)

_FIRST_POLL = 0.02
_LONGEST_POLL = 1.0
#: ``(document, who holds it)``: called once per document an ingest starts waiting for.
OnWait = Callable[[str, str], None]


class ClaimBusy(TransientError):
    """A document stayed claimed by another live ingest for longer than the wait allowed."""

    def __init__(self, doc_id: str, holder: str, expires_at: float, waited: float) -> None:
        super().__init__(
            f"document {doc_id!r} is being indexed by {holder} (its claim runs until "
            f"{when(expires_at, seconds=True)}); gave up after waiting {duration_text(waited)}",
            hint="try again once that ingest is done",
        )
        self.doc_id = doc_id
        self.holder = holder


def holder_process(owner: str) -> str:
    """The process part of a claim's owner (``<ingest id>@<process>``)."""
    return owner.partition("@")[2]


class DocumentClaims:
    """The claims one ingest holds on documents of a collection.

    Args:
        kv: The store the claims live in.
        collection: The collection whose documents are claimed.
        ttl: Seconds a claim lasts without renewal (``rag.claim_seconds``; by default
            that setting's default).
        wait_seconds: Seconds to wait for a document another live ingest holds before
            :class:`ClaimBusy` (``rag.ingest_wait_seconds`` or ``rag.event_wait_seconds``; by
            default the first one's default).
        renew_every: Seconds between renewals while :meth:`renewing` (a quarter of ``ttl``).
        clock: Decides when claims expire.
    """

    def __init__(
        self,
        kv: KeyValueStore,
        collection: str,
        *,
        ttl: float | None = None,
        wait_seconds: float | None = None,
        renew_every: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.leases = LeaseManager(kv, prefix=f"rag/{collection}/claim/", clock=clock)
        self.collection = collection
        self.owner = f"{uuid.uuid4().hex}@{this_process()}"
        self.ttl = CLAIM_SECONDS if ttl is None else ttl
        self.wait_seconds = INGEST_WAIT_SECONDS if wait_seconds is None else wait_seconds
        self.renew_every = self.ttl / 4 if renew_every is None else renew_every
        self.held: dict[str, Lease] = {}
        #: Documents held whose previous claim was never given back (its ingest died or lost
        #: it): chunks written under it may be left over, so they are swept.
        self.inherited: set[str] = set()
        self.on_wait: OnWait | None = None
        #: When each document still wanted was first found claimed (``time.monotonic()``).
        self.refused_at: dict[str, float] = {}
        self._announced: set[str] = set()
        self._lock = threading.Lock()

    def take(self, doc_id: str) -> bool:
        """Claim ``doc_id``; ``False`` when another live ingest holds it. A claim whose
        holder's process is gone is taken over."""
        with self._lock:
            before = self.leases.holder(doc_id, now=0.0)  # any claim not given back
            lease = self.leases.acquire(doc_id, self.owner, self.ttl, take_over=self._gone)
            if lease is None:
                self.refused_at.setdefault(doc_id, time.monotonic())
                return False
            self.held[doc_id] = lease
            if before is not None and before.owner != self.owner:
                self.inherited.add(doc_id)
        self.refused_at.pop(doc_id, None)
        self._announced.discard(doc_id)
        return True

    def _gone(self, claim: Lease) -> bool:
        """Whether the process holding ``claim`` is gone (it is then taken over)."""
        if not holder_gone(holder_process(claim.owner)):
            return False
        log.warning(
            "rag.claim_taken_over",
            collection=self.collection,
            document=claim.name,
            holder=describe(holder_process(claim.owner)),
        )
        return True

    def keep(self, doc_id: str) -> bool:
        """Renew the claim before writing what it guards; ``False`` if it was lost (it
        expired and another ingest took it). A document never claimed is always kept."""
        with self._lock:
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
        with self._lock:
            for doc_id in doc_ids:
                lease = self.held.pop(doc_id, None)
                self.inherited.discard(doc_id)
                if lease is not None:
                    self.leases.release(lease)

    def release_all(self) -> None:
        self.release(list(self.held))

    def renew_held(self) -> None:
        """Renew every claim held. One lost stays listed, so that :meth:`keep` reports it."""
        with self._lock:
            for doc_id, lease in list(self.held.items()):
                try:
                    self.held[doc_id] = self.leases.renew(lease, self.ttl)
                except Conflict:
                    pass
                except SkybridgeError as exc:  # the store failed for a moment: next round
                    log.warning("rag.claim_not_renewed", document=doc_id, reason=str(exc))

    @contextmanager
    def renewing(self) -> Iterator[None]:
        """Renew the claims held every ``renew_every`` seconds until the block ends, so none
        lapses while its holder reads or embeds."""
        with Periodic(self.renew_every, self.renew_held, name="rag-claims"):
            yield

    def _busy(self, doc_id: str) -> Lease | None:
        """The claim on ``doc_id`` of another live ingest, if any."""
        lease = self.leases.holder(doc_id)
        if lease is None or holder_gone(holder_process(lease.owner)):
            return None
        return lease

    def overdue(self, doc_ids: Iterable[str]) -> list[ClaimBusy]:
        """For each of ``doc_ids`` waited for longer than ``wait_seconds`` and still claimed by
        a live ingest, the error naming it and its holder."""
        now = time.monotonic()
        found = []
        for doc_id in doc_ids:
            since = self.refused_at.get(doc_id)
            if since is None or now - since < self.wait_seconds:
                continue
            lease = self._busy(doc_id)
            if lease is not None:
                holder = describe(holder_process(lease.owner))
                found.append(ClaimBusy(doc_id, holder, lease.expires_at, now - since))
        return found

    def wait(self, doc_ids: Iterable[str]) -> None:
        """Return once one of ``doc_ids`` is claimed by no live ingest (released, expired or
        its holder gone), or once the first of them has been waited for ``wait_seconds``."""
        wanted = list(doc_ids)
        if not wanted:
            return
        start = time.monotonic()
        until = min(self.refused_at.get(d, start) for d in wanted) + self.wait_seconds
        pause = _FIRST_POLL
        while True:
            busy = [(d, self._busy(d)) for d in wanted]
            if any(lease is None for _, lease in busy):
                return
            for doc_id, lease in busy:
                if lease is not None:
                    self._announce(doc_id, lease)
            now = time.monotonic()
            if now >= until:
                return
            time.sleep(min(pause, until - now))
            pause = min(pause * 2, _LONGEST_POLL)

    def _announce(self, doc_id: str, lease: Lease) -> None:
        if doc_id in self._announced:
            return
        self._announced.add(doc_id)
        holder = describe(holder_process(lease.owner))
        log.info(
            "rag.waiting_for_claim",
            collection=self.collection,
            document=doc_id,
            holder=holder,
            gives_up_after=duration_text(self.wait_seconds),
        )
        if self.on_wait is not None:
            self.on_wait(doc_id, holder)

    def take_waiting(self, doc_id: str) -> None:
        """Claim ``doc_id``, waiting while another live ingest holds it.

        Raises:
            ClaimBusy: it was still held after ``wait_seconds``.
        """
        while not self.take(doc_id):
            self.wait([doc_id])
            for busy in self.overdue([doc_id]):
                raise busy
