"""The reconcile lease a running run holds: renewed by a thread of its own, checked by the run.

The renewing thread and the run share one :class:`RunLease`: each renewal writes a new kv
version of the lease record, and only the lease as last renewed can be renewed again or given
back (both are compare-and-set on that version), so the current lease is kept in one place,
under a lock, and the run gives back that one once the thread has stopped.

A run must not write after its lease could have run out: another process judges the lease by
its expiry and may begin a run of its own. So :meth:`RunLease.check` refuses once the renewing
thread found the lease taken, and also once less than ``margin`` seconds of the lease are left
(the time since the last successful renewal exceeds the lease's TTL minus the margin: the kv
store failing or slow, or the process paused), judged by the same clock the lease's expiry is
written with. The margin leaves time for the mapping being applied to finish before anyone
else may take over. A renewal that fails on the kv store is tried again at the next interval.
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


class RunLease:
    """``lease``, held for a run: :meth:`start` renews it every ``renew_every`` seconds (to
    ``ttl`` seconds from then), :meth:`check` says whether the run may go on, :meth:`stop`
    gives back the current lease."""

    def __init__(
        self,
        leases: LeaseManager,
        lease: Lease,
        *,
        ttl: float,
        renew_every: float,
        margin: float,
        clock: Clock,
    ) -> None:
        self.leases = leases
        self.ttl = ttl
        self.renew_every = renew_every
        self.margin = margin
        self.clock = clock
        self._lease = lease
        self._lock = threading.Lock()
        self._lost: str | None = None
        self._renewing = Periodic(renew_every, self._renew, name=f"secretsync-lease-{lease.owner}")

    @property
    def current(self) -> Lease:
        """The lease as last renewed."""
        with self._lock:
            return self._lease

    def start(self) -> None:
        self._renewing.start()

    def check(self) -> None:
        """Raises :class:`Conflict` when the lease was lost or is about to run out."""
        with self._lock:
            lease, lost = self._lease, self._lost
        if lost is None and self.clock.now() >= lease.expires_at - self.margin:
            lost = "its lease was not renewed in time (the kv store was slow or unreachable, or "
            lost += "the process paused)"
        if lost is not None:
            raise Conflict(
                f"reconcile run {lease.owner} stopped: {lost}; another run may take over",
                hint="start a new run",
            )

    def stop(self) -> bool:
        """Stop renewing and give the current lease back; whether it was still held (else it
        was lost, or the kv store failed: then it runs out by itself)."""
        self._renewing.stop()
        given = False
        with suppress(Exception):
            given = self.leases.release(self.current)
        if not given:
            log.warning("secretsync.reconcile_lease_not_released", run=self.current.owner)
        return given

    def _renew(self) -> object:
        """One renewal; :data:`STOP` once the lease is lost (nothing more to renew)."""
        lease = self.current
        try:
            renewed = self.leases.renew(lease, self.ttl)
        except Conflict as exc:  # taken by another run, or given up
            log.warning("secretsync.reconcile_lease_lost", run=lease.owner, error=str(exc))
            with self._lock:
                self._lost = "it lost its lease"
            return STOP
        except Exception as exc:  # the kv store failing: try again; check() tells the run
            log.warning("secretsync.reconcile_lease_not_renewed", run=lease.owner, error=str(exc))
            return None
        with self._lock:
            self._lease = renewed
        return None
