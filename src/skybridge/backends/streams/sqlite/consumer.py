"""A member of a consumer group on the SQLite log, with its own connection.

**Liveness.** A member heartbeats (and rebalances) in :meth:`~SqliteConsumer.poll`,
:meth:`~SqliteConsumer.assignment` and :meth:`~SqliteConsumer.commit`; while it is busy with a
batch in between, a background thread (:class:`~skybridge.backends.streams.leases.KeepAlive`,
with its own connection) renews its member and leases, as Kafka's heartbeat thread does, until
it has not polled for ``max_poll_interval`` (default 300 s). A slow batch therefore keeps its
partitions; a stuck member loses them ``session_timeout`` after that bound, and only to another
live member that takes them: a lease row still naming the member, expired or not, means nobody
else read or committed the partition, so a sole worker's commit after any pause succeeds (the
commit renews its leases).

**Refused commits.** :meth:`~SqliteConsumer.commit` is all or nothing and refuses (``Conflict``)
when a partition moved to another member since this one acquired it. The consumer then rewinds
every partition of that commit to the group's committed offset (and heartbeats on the next poll),
so the uncommitted records really are read again, by the new owner or by this member if the
partition comes back; it never keeps a position past records it could not commit. Likewise a
partition this member re-acquires after another member held it in between is treated as revoked
and assigned again (callbacks run, position reset), not as continuously owned.

**Failed reads.** A partition's position moves only with the records :meth:`~SqliteConsumer.poll`
returns. When reading a later partition fails, the poll returns the records already read and
the next poll raises the error.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from skybridge.backends.streams.base import Consumer, RebalanceCallback, StartPosition
from skybridge.backends.streams.leases import GroupMembership, KeepAlive
from skybridge.backends.streams.records import (
    Record,
    TopicPartition,
    decode_headers,
    read_in_turn,
)
from skybridge.backends.streams.sqlite.schema import SqliteLeases, connect, transaction, translate
from skybridge.core.errors import Conflict, ValidationError

if TYPE_CHECKING:
    from skybridge.backends.streams.sqlite.log import SqliteStream

_SELECT = (
    "SELECT off, key, value, headers, ts FROM records "
    "WHERE tid = ? AND part = ? AND off >= ? ORDER BY off LIMIT ?"
)
#: ``Record(...)`` without the Python-level ``__new__`` of a named tuple (hot path).
_new_record = tuple.__new__
#: How long poll sleeps between looks at an idle log (no cross-process wake-up exists).
_IDLE_SLEEP = 0.02


def as_records(topic: str, part: int, rows: list[Any]) -> list[Record]:
    """Records of ``(off, key, value, headers, ts)`` rows of one partition."""
    new, decode = _new_record, decode_headers
    return [
        new(Record, (topic, part, off, key, value, decode(headers) if headers else (), ts))
        for off, key, value, headers, ts in rows
    ]


class SqliteConsumer(Consumer):
    def __init__(
        self,
        log: SqliteStream,
        group: str,
        topics: Sequence[str],
        *,
        start: StartPosition,
        on_assign: RebalanceCallback | None,
        on_revoke: RebalanceCallback | None,
    ) -> None:
        if not topics:
            raise ValidationError("a consumer needs at least one topic")
        self.log = log
        self.group = group
        self.topics = tuple(topics)
        self.start = start
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._conn = connect(log.path)
        self._leases = SqliteLeases(self._conn)
        self._positions: dict[TopicPartition, int] = {}
        self._consumed: dict[TopicPartition, int] = {}
        self._next_partition = 0
        # What stopped the last poll after it had read records: raised by the next poll.
        self._failed: Exception | None = None
        self.membership = GroupMembership(
            self._leases,
            group,
            self.topics,
            lambda: {t: log.describe(t).partitions for t in self.topics},
            session_timeout=log.session_timeout,
            heartbeat_interval=log.heartbeat_interval,
            on_assign=on_assign,
            on_revoke=on_revoke,
            clock=log.clock,
        )
        renewer = SqliteLeases(connect(log.path))
        self.keepalive = KeepAlive(
            self.membership,
            renewer.renew,
            max_poll_interval=log.max_poll_interval,
            close=renewer.conn.close,
        )
        try:
            self._heartbeat(due_only=False)
        except BaseException:
            renewer.conn.close()
            self._conn.close()
            raise
        self.keepalive.start()

    @property
    def member_id(self) -> str:
        return self.membership.member

    def _heartbeat(self, *, due_only: bool = True) -> None:
        """Heartbeat (when due) and apply what moved, including partitions this member kept
        in memory but re-acquired after another member held them in between."""
        self.keepalive.polled()
        self._leases.taken_over = set()
        membership = self.membership
        gained, lost = membership.maybe_heartbeat() if due_only else membership.heartbeat()
        retaken = (self._leases.taken_over & membership.owned) - gained
        self._leases.taken_over = set()
        if retaken:
            # Another member may have read and committed them meanwhile: revoke, then assign.
            if self._on_revoke is not None:
                self._on_revoke(set(retaken))
            if self._on_assign is not None:
                self._on_assign(set(retaken))
        self._rebalance(gained | retaken, lost | retaken)

    def _rebalance(self, gained: set[TopicPartition], lost: set[TopicPartition]) -> None:
        for tp in lost:
            self._positions.pop(tp, None)
            self._consumed.pop(tp, None)
        for tp in gained:
            self._positions.pop(tp, None)

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """See :meth:`Consumer.poll`. Raises first what stopped the previous poll after it had
        read records (those records were returned)."""
        deadline = time.monotonic() + timeout
        if self._failed is not None:
            self.keepalive.polled()
            failed, self._failed = self._failed, None
            raise failed
        while True:
            self._heartbeat()
            records = self._fetch(max_records)
            if records or time.monotonic() >= deadline:
                return records
            time.sleep(min(_IDLE_SLEEP, max(deadline - time.monotonic(), 0)))

    def _fetch(self, max_records: int) -> list[Record]:
        """Up to ``max_records`` records of the owned partitions. A failure after some were read
        ends the round: the records are returned, the error kept for the next poll."""
        owned = sorted(self.membership.owned)
        # Start at a rotating partition so one busy partition cannot starve the others.
        start, self._next_partition = self._next_partition, self._next_partition + 1
        turn = [owned[(start + i) % len(owned)] for i in range(len(owned))]
        records, self._failed = read_in_turn(turn, max_records, self._read)
        return records

    def _read(self, tp: TopicPartition, limit: int) -> list[Record]:
        tid = self.log.topic_id(tp.topic)
        pos = self.position(tp)
        assert pos is not None
        try:
            rows = self._conn.execute(_SELECT, (tid, tp.partition, pos, limit)).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc, "poll") from exc
        if not rows:
            return []
        records = as_records(tp.topic, tp.partition, rows)
        self._positions[tp] = self._consumed[tp] = rows[-1][0] + 1
        return records

    def position(self, partition: TopicPartition) -> int | None:
        if partition not in self.membership.owned:
            return None
        pos = self._positions.get(partition)
        if pos is None:
            pos = self._initial_position(partition)
            self._positions[partition] = pos
        return pos

    def _initial_position(self, tp: TopicPartition) -> int:
        tid = self.log.topic_id(tp.topic)
        row = self._conn.execute(
            "SELECT p.start_off, p.next_off, o.pos FROM partitions p LEFT JOIN offsets o "
            "ON o.grp = ? AND o.tid = p.tid AND o.part = p.part WHERE p.tid = ? AND p.part = ?",
            (self.group, tid, tp.partition),
        ).fetchone()
        start_off, next_off, committed = (int(v) if v is not None else None for v in row)
        assert start_off is not None
        assert next_off is not None
        if committed is not None:
            return max(committed, start_off)
        return start_off if self.start == "earliest" else next_off

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        offsets = dict(self._consumed) if offsets is None else dict(offsets)
        if not offsets:
            return
        self.keepalive.polled()
        owned = self.membership.owned
        expires = self.log.clock.now() + self.log.session_timeout
        with transaction(self._conn, "commit") as conn:
            moved = set(offsets) - owned
            if not moved:
                moved = self._leases.renew_for_commit(
                    conn, self.group, self.member_id, self.topics, set(offsets), expires
                )
            if not moved:
                conn.executemany(
                    "INSERT OR REPLACE INTO offsets (grp, tid, part, pos) VALUES (?, ?, ?, ?)",
                    [
                        (self.group, self.log.topic_id(tp.topic), tp.partition, pos)
                        for tp, pos in offsets.items()
                    ],
                )
        if moved:
            self._refused(set(offsets))
            raise Conflict(
                f"cannot commit {sorted(moved)}: this member of group '{self.group}' no "
                "longer owns them (rebalanced); their records will be redelivered"
            )

    def _refused(self, partitions: set[TopicPartition]) -> None:
        """After a refused commit: read ``partitions`` again from the committed offsets (none
        of the commit was stored) and heartbeat on the next poll to give up what moved."""
        for tp in partitions:
            self._positions.pop(tp, None)
            self._consumed.pop(tp, None)
        self.membership.request_heartbeat()

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition not in self.membership.owned:
            raise Conflict(f"cannot seek {partition}: not assigned to this member")
        self._positions[partition] = offset

    def assignment(self) -> set[TopicPartition]:
        self._heartbeat()
        return set(self.membership.owned)

    def close(self) -> None:
        self.keepalive.stop()
        try:
            self.membership.leave()
        finally:
            self._conn.close()
