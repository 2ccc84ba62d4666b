"""Consumer groups without a broker: members heartbeat leases in a shared store.

Used by the SQLite log (leases in the same database) and Kinesis (leases in a ``kv`` backend).
Every member computes the same target assignment from the live members, the topic's partitions
(a count, or the explicit partition numbers a group may read now, as Kinesis gives after a
reshard) and the current lease holders: members keep what they hold up to their share and the
rest is dealt round-robin (see :func:`target_assignment`). Each member gives up what it should
no longer own and claims what it should own once the previous owner released it or its lease
expired. A partition therefore never has two owners with live leases, and a crashed member's
partitions move after ``session_timeout``.

A member busy with one long batch does not heartbeat; :class:`KeepAlive` renews its member and
leases from a background thread meanwhile (as Kafka's heartbeat thread does) until it has not
polled for ``max_poll_interval``, so its partitions stay put however long a batch takes, up to
that bound, and a stuck member's partitions still move.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from skybridge.backends.streams.base import RebalanceCallback
from skybridge.backends.streams.records import TopicPartition
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger

log = get_logger(__name__)

#: Per topic: a partition count (partitions ``0..n-1``) or the partition numbers to assign.
Partitions = Mapping[str, int | Collection[int]]


class LeaseStore(Protocol):
    """Where a group's members and partition leases live."""

    def heartbeat(
        self, group: str, member: str, topics: Sequence[str], expires_at: float, now: float
    ) -> dict[str, tuple[str, ...]]:
        """Renew ``member``; return every live member (including it) with its topics."""
        ...

    def acquire(
        self,
        group: str,
        member: str,
        wanted: set[TopicPartition],
        expires_at: float,
        now: float,
    ) -> set[TopicPartition]:
        """Release ``member``'s leases outside ``wanted``; renew or take the wanted ones that
        are free, expired or already its own. Return what ``member`` holds afterwards."""
        ...

    def leave(self, group: str, member: str) -> None:
        """Drop ``member`` and all its leases."""
        ...

    def owners(self, group: str, now: float) -> dict[TopicPartition, str]:
        """Who holds each unexpired lease of the group."""
        ...


def target_assignment(
    member: str,
    members: Mapping[str, Sequence[str]],
    partitions: Partitions,
    owners: Mapping[TopicPartition, str] | None = None,
) -> set[TopicPartition]:
    """The partitions ``member`` should own: the same answer on every member that sees the same
    ``members`` and ``owners``.

    Each member of a topic gets its share (the partition count divided among its members; the
    extra ones go to the members holding most, then by name). Sticky: a member keeps what it
    holds (``owners``) up to its share, and only the rest is dealt out, in partition order,
    round-robin among the members with room. So a partition coming or going, or a member
    joining, moves only what must move; with no owners this is plain round-robin by rank.
    """
    wanted: set[TopicPartition] = set()
    for topic, numbers in partitions.items():
        subscribed = sorted(m for m, topics in members.items() if topic in topics)
        if member not in subscribed:
            continue
        ordered = range(numbers) if isinstance(numbers, int) else sorted(numbers)
        dealt = _deal(topic, list(ordered), subscribed, owners or {})
        wanted.update(TopicPartition(topic, p) for p in dealt[member])
    return wanted


def _deal(
    topic: str, ordered: list[int], subscribed: list[str], owners: Mapping[TopicPartition, str]
) -> dict[str, list[int]]:
    """Each subscribed member's partitions of ``topic`` (see :func:`target_assignment`)."""
    held: dict[str, list[int]] = {m: [] for m in subscribed}
    for p in ordered:
        owner = owners.get(TopicPartition(topic, p))
        if owner in held:
            held[owner].append(p)
    base, extra = divmod(len(ordered), len(subscribed))
    by_holdings = sorted(subscribed, key=lambda m: (-len(held[m]), m))
    share = {m: base + (i < extra) for i, m in enumerate(by_holdings)}
    dealt = {m: held[m][: share[m]] for m in subscribed}
    kept = {p for ps in dealt.values() for p in ps}
    turn = 0
    for p in ordered:
        if p in kept:
            continue
        while True:  # the shares add up to the partitions: someone has room
            taker = subscribed[turn % len(subscribed)]
            turn += 1
            if len(dealt[taker]) < share[taker]:
                break
        dealt[taker].append(p)
    return dealt


class GroupMembership:
    """One member's view of its group: heartbeats, rebalances and callbacks."""

    def __init__(
        self,
        store: LeaseStore,
        group: str,
        topics: Sequence[str],
        partitions: Callable[[], Partitions],
        *,
        session_timeout: float,
        heartbeat_interval: float,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.group = group
        self.topics = tuple(topics)
        self.member = f"{uuid.uuid4().hex[:12]}"
        self._partitions = partitions
        self.session_timeout = session_timeout
        self.heartbeat_interval = heartbeat_interval
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self.clock = clock
        self.owned: set[TopicPartition] = set()
        self._last_beat = float("-inf")
        #: Held while this member writes its leases: a :class:`KeepAlive` renewal never runs
        #: during the owner's own heartbeat (no compare-and-set race between the two).
        self.lock = threading.RLock()

    @property
    def last_beat(self) -> float:
        """When (``time.monotonic()``) this member last heartbeat from its own thread."""
        return self._last_beat

    def maybe_heartbeat(self) -> tuple[set[TopicPartition], set[TopicPartition]]:
        """Heartbeat when due; return (gained, lost) partitions."""
        if time.monotonic() - self._last_beat < self.heartbeat_interval:
            return set(), set()
        return self.heartbeat()

    def request_heartbeat(self) -> None:
        """Make the next :meth:`maybe_heartbeat` run (the partitions to assign changed)."""
        self._last_beat = float("-inf")

    def heartbeat(self) -> tuple[set[TopicPartition], set[TopicPartition]]:
        with self.lock:
            return self._heartbeat()

    def _heartbeat(self) -> tuple[set[TopicPartition], set[TopicPartition]]:
        self._last_beat = time.monotonic()
        now = self.clock.now()
        expires = now + self.session_timeout
        members = self.store.heartbeat(self.group, self.member, self.topics, expires, now)
        owners = self.store.owners(self.group, now)
        wanted = target_assignment(self.member, members, self._partitions(), owners)
        lost = self.owned - wanted
        if lost and self._on_revoke is not None:
            # Revoke first so the application can commit while it still owns them.
            self._on_revoke(set(lost))
        held = self.store.acquire(self.group, self.member, wanted, expires, now)
        stolen = (self.owned - held) - lost
        if stolen and self._on_revoke is not None:
            # Our leases expired (no heartbeat in time) and another member took them.
            self._on_revoke(set(stolen))
        gained, lost = held - self.owned, self.owned - held
        self.owned = held
        if gained and self._on_assign is not None:
            self._on_assign(set(gained))
        return gained, lost

    def leave(self) -> None:
        with self.lock:
            if self.owned and self._on_revoke is not None:
                self._on_revoke(set(self.owned))
            self.store.leave(self.group, self.member)
            self.owned = set()


#: Renews one member and every lease it still holds until the given time (never takes one).
Renew = Callable[[str, str, Sequence[str], float], None]


class KeepAlive:
    """Renew a member's leases from a background thread while its owner is busy.

    Between :meth:`polled` calls (the owner's poll, commit or assignment) the thread renews the
    member and its leases every ``heartbeat_interval`` that the owner did not heartbeat itself,
    through ``renew`` (which must use its own connection). It never rebalances or runs callbacks:
    that stays on the owner's thread. Once the owner has not polled for ``max_poll_interval``
    it stops renewing, so a stuck member's leases expire ``session_timeout`` later and another
    member may take its partitions (its commit is then refused).
    """

    def __init__(
        self,
        membership: GroupMembership,
        renew: Renew,
        *,
        max_poll_interval: float,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.membership = membership
        self.max_poll_interval = max_poll_interval
        self._renew = renew
        self._close = close
        self._polled = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"keepalive-{membership.group}", daemon=True
        )
        self.renewals = 0

    def start(self) -> None:
        self._thread.start()

    def polled(self) -> None:
        """The owner polled, committed or asked for its assignment: it is alive."""
        self._polled = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        membership = self.membership
        interval = membership.heartbeat_interval
        lapsed = False
        try:
            while not self._stop.wait(interval):
                now = time.monotonic()
                if now - self._polled > self.max_poll_interval:
                    if not lapsed:
                        lapsed = True
                        log.warning(
                            "stream member stopped polling: its leases lapse",
                            group=membership.group,
                            member=membership.member,
                            max_poll_interval=self.max_poll_interval,
                        )
                    continue
                lapsed = False
                if now - membership.last_beat < interval or not membership.owned:
                    continue  # the owner heartbeats itself, or has nothing to keep
                try:
                    with membership.lock:
                        expires = membership.clock.now() + membership.session_timeout
                        self._renew(membership.group, membership.member, membership.topics, expires)
                    self.renewals += 1
                except SkybridgeError as exc:
                    log.warning(
                        "stream member could not renew its leases",
                        group=membership.group,
                        error=str(exc),
                    )
        finally:
            if self._close is not None:
                self._close()
