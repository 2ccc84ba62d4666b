"""A member of a consumer group on the SQLite log, with its own connection."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from skybridge.backends.streams.base import Consumer, RebalanceCallback, StartPosition
from skybridge.backends.streams.leases import GroupMembership
from skybridge.backends.streams.records import Record, TopicPartition, decode_headers
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
        self._conn = connect(log.path)
        self._positions: dict[TopicPartition, int] = {}
        self._consumed: dict[TopicPartition, int] = {}
        self._next_partition = 0
        self.membership = GroupMembership(
            SqliteLeases(self._conn),
            group,
            self.topics,
            lambda: {t: log.describe(t).partitions for t in self.topics},
            session_timeout=log.session_timeout,
            heartbeat_interval=log.heartbeat_interval,
            on_assign=on_assign,
            on_revoke=on_revoke,
            clock=log.clock,
        )
        self._rebalance(*self.membership.heartbeat())

    @property
    def member_id(self) -> str:
        return self.membership.member

    def _rebalance(self, gained: set[TopicPartition], lost: set[TopicPartition]) -> None:
        for tp in lost:
            self._positions.pop(tp, None)
            self._consumed.pop(tp, None)
        for tp in gained:
            self._positions.pop(tp, None)

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        deadline = time.monotonic() + timeout
        while True:
            self._rebalance(*self.membership.maybe_heartbeat())
            records = self._fetch(max_records)
            if records or time.monotonic() >= deadline:
                return records
            time.sleep(min(_IDLE_SLEEP, max(deadline - time.monotonic(), 0)))

    def _fetch(self, max_records: int) -> list[Record]:
        owned = sorted(self.membership.owned)
        records: list[Record] = []
        # Start at a rotating partition so one busy partition cannot starve the others.
        for i in range(len(owned)):
            tp = owned[(self._next_partition + i) % len(owned)]
            if len(records) >= max_records:
                break
            records.extend(self._read(tp, max_records - len(records)))
        self._next_partition += 1
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
        self._positions[tp] = rows[-1][0] + 1
        self._consumed[tp] = rows[-1][0] + 1
        return as_records(tp.topic, tp.partition, rows)

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
        now = self.log.clock.now()
        with transaction(self._conn, "commit") as conn:
            held = {
                TopicPartition(t, p)
                for t, p in conn.execute(
                    "SELECT topic, part FROM leases WHERE grp = ? AND member = ? "
                    "AND expires_at >= ?",
                    (self.group, self.member_id, now),
                )
            }
            stray = set(offsets) - held
            if stray:
                raise Conflict(
                    f"cannot commit {sorted(stray)}: this member of group '{self.group}' "
                    "no longer owns them (rebalanced); their records will be redelivered"
                )
            conn.executemany(
                "INSERT OR REPLACE INTO offsets (grp, tid, part, pos) VALUES (?, ?, ?, ?)",
                [
                    (self.group, self.log.topic_id(tp.topic), tp.partition, pos)
                    for tp, pos in offsets.items()
                ],
            )

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition not in self.membership.owned:
            raise Conflict(f"cannot seek {partition}: not assigned to this member")
        self._positions[partition] = offset

    def assignment(self) -> set[TopicPartition]:
        self._rebalance(*self.membership.maybe_heartbeat())
        return set(self.membership.owned)

    def close(self) -> None:
        try:
            self.membership.leave()
        finally:
            self._conn.close()
