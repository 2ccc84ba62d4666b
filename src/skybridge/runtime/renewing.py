"""A lease held while work runs: renewed by a thread of its own, checked by the work.

The renewing thread and the work share one :class:`RenewingLease`: each renewal writes a new kv
version of the lease record, and only the lease as last renewed can be renewed again or given
back (both are compare-and-set on that version), so the current lease is kept in one place,
under a lock, and the work gives back that one once the thread has stopped.

Work must not write once its lease could have run out: others judge the lease by its expiry and
may take it over. So :meth:`RenewingLease.check`, which the work calls before each write,
refuses once the renewing thread found the lease taken, and also once less than ``margin``
seconds of it are left (renewals failing on the kv store or slow, or the process paused), by the
clock the lease's expiry is written with. The margin leaves time for the write under way to
finish before anyone else may take over. A renewal that fails on the kv store is tried again
at the next interval. Secretsync's reconcile runs and datasync's batch runs hold one.
"""

from __future__ import annotations

import threading
from contextlib import suppress

from skybridge.core.clock import Clock
from skybridge.core.errors import Conflict
from skybridge.core.observability import get_logger
from skybridge.core.periodic import STOP, Periodic
from skybridge.runtime.leases import Lease, LeaseManager

log = get_logger(__name__)


class RenewingLease:
    """``lease``, held for a piece of work: :meth:`start` renews it every ``renew_every``
    seconds (to ``ttl`` seconds from then), :meth:`check` says whether the work may write,
    :meth:`stop` gives back the current lease.

    ``work`` names the work in errors ("reconcile run R", "the run of batch B"), ``hint`` says
    what to do once it stopped, and ``event`` prefixes the log events (``<event>_lost``,
    ``<event>_not_renewed``, ``<event>_not_released``).
    """

    def __init__(
        self,
        leases: LeaseManager,
        lease: Lease,
        *,
        ttl: float,
        renew_every: float,
        margin: float,
        clock: Clock,
        work: str,
        hint: str,
        event: str,
    ) -> None:
        self.leases = leases
        self.ttl = ttl
        self.renew_every = renew_every
        self.margin = margin
        self.clock = clock
        self.work, self.hint, self.event = work, hint, event
        self._lease = lease
        self._lock = threading.Lock()
        self._lost: str | None = None
        self._renewing = Periodic(renew_every, self._renew, name=f"lease-{lease.name}")

    @property
    def current(self) -> Lease:
        """The lease as last renewed."""
        with self._lock:
            return self._lease

    def start(self) -> None:
        self._renewing.start()

    def problem(self) -> str | None:
        """Why the work may no longer write (``None``: it may)."""
        with self._lock:
            lease, lost = self._lease, self._lost
        if lost is None and self.clock.now() >= lease.expires_at - self.margin:
            lost = "its lease was not renewed in time (the kv store was slow or unreachable, or "
            lost += "the process paused)"
        return lost

    def check(self) -> None:
        """Raises :class:`Conflict` when the lease was lost or is about to run out."""
        if (lost := self.problem()) is not None:
            raise Conflict(
                f"{self.work} stopped: {lost}; another run may take over", hint=self.hint
            )

    def stop(self) -> bool:
        """Stop renewing and give the current lease back; whether it was still held (else it
        was lost, or the kv store failed: then it runs out by itself)."""
        self._renewing.stop()
        given = False
        with suppress(Exception):
            given = self.leases.release(self.current)
        if not given:
            log.warning(
                f"{self.event}_not_released", lease=self.current.name, owner=self.current.owner
            )
        return given

    def _renew(self) -> object:
        """One renewal; :data:`STOP` once the lease is lost (nothing more to renew)."""
        lease = self.current
        try:
            renewed = self.leases.renew(lease, self.ttl)
        except Conflict as exc:  # taken over by another run, or given up
            log.warning(f"{self.event}_lost", lease=lease.name, owner=lease.owner, error=str(exc))
            with self._lock:
                self._lost = "it lost its lease to another run"
            return STOP
        except Exception as exc:  # the kv store failing: try again; check() tells the work
            log.warning(
                f"{self.event}_not_renewed", lease=lease.name, owner=lease.owner, error=str(exc)
            )
            return None
        with self._lock:
            self._lease = renewed
        return None
