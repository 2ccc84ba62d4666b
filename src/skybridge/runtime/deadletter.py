"""Dead letters: poison records parked on ``<topic>.dlq`` with their error, and replayed later.

A dead letter keeps the original key, value and headers and adds ``skybridge-dlq-*`` headers
(source topic/partition/offset, error type and message, pipeline, time). Replaying republishes
the original record (key, value, headers, timestamp, and partition when the topic still has
it) to its topic and appends a *marker* record to the dead-letter topic, so ``list`` knows which
ones were replayed; ``replay --all`` also commits the ``skybridge-dlq`` group on the dead-letter
topic (its lag counts the records appended since: letters parked since, and the replay's own
markers).

A record may be dead-lettered more than once (a worker dying between the dead-letter produce
and the batch's flush): ``list`` and ``replay`` show the first letter per original (topic,
partition, offset), and a marker names that original, so a duplicate is never replayed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from skybridge.backends.streams.base import StreamBackend
from skybridge.backends.streams.records import Headers, Message, Record, next_positions
from skybridge.core.errors import Conflict, NotFound, SkybridgeError
from skybridge.core.observability import get_logger

DLQ_SUFFIX = ".dlq"
#: Group that replays (and commits) a dead-letter topic.
REPLAY_GROUP = "skybridge-dlq"
_PREFIX = "skybridge-dlq-"
_MARKER = _PREFIX + "replayed"
#: Marker header naming the replayed letter's original record: ``topic/partition/offset``.
_MARKER_SOURCE = _PREFIX + "replayed-source"
#: Header of a replay's claim, markers and release: the replay's token.
_CLAIM = _PREFIX + "claim"
#: Claim header: the ids of the letters claimed, comma-separated.
_CLAIMED = _PREFIX + "claimed"
#: Release header: the replay holding the claim is over.
_RELEASED = _PREFIX + "released"
#: Headers of records that are no letters: markers, claims and releases.
_BOOKKEEPING = (_MARKER, _CLAIM)
#: Seconds after its last record that a claim nobody released lapses. A replay writes a marker
#: per letter, and each write either lands or fails within 15 s, so a live replay is never
#: this quiet; record times are the writers' clocks, so hosts must agree to well within it.
CLAIM_LEASE = 120.0
#: Letter ids per claim record (keeps a record far below brokers' size limits).
_CLAIM_CHUNK = 2000
#: Longest error message kept in a header.
_MAX_ERROR = 2000

log = get_logger(__name__)


@runtime_checkable
class MemberlessCommit(Protocol):
    """A stream backend that stores a group's positions without joining the group."""

    def commit_group(self, group: str, topic: str, positions: Mapping[int, int]) -> None:
        """Store ``group``'s ``positions`` (partition -> next offset) on ``topic``; a group
        with members refuses it (``Conflict``)."""


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


def ensure_dlq(backend: StreamBackend, topic: str) -> str:
    """Create ``<topic>.dlq`` (one partition) unless it exists; return its name."""
    name = dlq_topic(topic)
    try:
        backend.describe(name)
    except NotFound:
        backend.create_topic(name, 1)
    return name


def dead_letter(record: Record, error: BaseException, pipeline: str) -> Message:
    """The dead-letter message for ``record`` that failed with ``error``."""
    return letter_message(record, type(error).__name__, str(error), pipeline)


def letter_message(record: Record, error_type: str, error: str, pipeline: str) -> Message:
    """The dead-letter message for ``record``; a record that was never on the stream (an event
    handled directly) has partition and offset ``-1``."""
    meta = {
        "topic": record.topic,
        "partition": str(record.partition),
        "offset": str(record.offset),
        "error-type": error_type,
        "error": error[:_MAX_ERROR],
        "pipeline": pipeline,
        "failed-at": f"{time.time():.3f}",
    }
    headers = [*record.headers, *((_PREFIX + k, v.encode()) for k, v in meta.items())]
    return Message(record.value, record.key, headers, partition=0, timestamp=record.timestamp)


@dataclass(frozen=True)
class DeadLetter:
    """One parked record. ``id`` is ``partition:offset`` in the dead-letter topic;
    ``topic``, ``partition``, ``offset`` and ``timestamp`` are the original record's."""

    id: str
    topic: str
    partition: int
    offset: int
    error_type: str
    error: str
    pipeline: str
    failed_at: float
    key: bytes | None
    value: bytes
    headers: Headers = field(default=())
    replayed: bool = False
    timestamp: float | None = None

    @property
    def source(self) -> str:
        """The original record: ``topic/partition/offset``."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    @classmethod
    def from_record(cls, record: Record, replayed: set[str]) -> DeadLetter:
        """The letter in dead-letter record ``record``; ``replayed``: marked letter ids and
        original records (``topic/partition/offset``)."""
        meta = {k[len(_PREFIX) :]: v.decode() for k, v in record.headers if k.startswith(_PREFIX)}
        letter_id = f"{record.partition}:{record.offset}"
        topic, partition = meta.get("topic", ""), int(meta.get("partition", "-1"))
        offset = int(meta.get("offset", "-1"))
        return cls(
            id=letter_id,
            topic=topic,
            partition=partition,
            offset=offset,
            error_type=meta.get("error-type", ""),
            error=meta.get("error", ""),
            pipeline=meta.get("pipeline", ""),
            failed_at=float(meta.get("failed-at", "0")),
            key=record.key,
            value=record.value,
            headers=[(k, v) for k, v in record.headers if not k.startswith(_PREFIX)],
            replayed=letter_id in replayed or f"{topic}/{partition}/{offset}" in replayed,
            timestamp=record.timestamp,  # dead_letter() keeps the original's
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "error_type": self.error_type,
            "error": self.error,
            "pipeline": self.pipeline,
            "failed_at": self.failed_at,
            "timestamp": self.timestamp,
            "key": self.key.decode(errors="replace") if self.key is not None else None,
            "headers": {k: v.decode(errors="replace") for k, v in self.headers},
            "replayed": self.replayed,
        }


class DeadLetters:
    """The dead letters of ``topic`` on ``backend``."""

    def __init__(self, backend: StreamBackend, topic: str, *, idle_timeout: float = 2.0) -> None:
        self.backend = backend
        self.topic = topic
        self.name = dlq_topic(topic)
        #: Unused, kept for callers that pass it: reads stop at the end offsets, not when
        #: nothing new arrived for a while.
        self.idle_timeout = idle_timeout

    def exists(self) -> bool:
        """Whether the dead-letter topic exists (it is made when the first letter is parked)."""
        try:
            self.backend.describe(self.name)
        except NotFound:
            return False
        return True

    def letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest first, with whether it was replayed (none when no letter
        was ever parked).

        Reads the dead-letter topic's partitions directly, up to their end offsets of when the
        call began: no consumer group is joined, and an empty or missing topic answers at once.
        """
        return _letters(self._read_all())

    def replay(self, ids: Iterable[str] | None = None) -> list[DeadLetter]:
        """Republish the given (default: all not yet replayed) letters to their topic.

        Raises:
            NotFound: an id that is no letter of this topic.
        """
        wanted = None if ids is None else set(ids)
        if not self.exists():
            if wanted:
                raise NotFound(f"no dead letters {sorted(wanted)} on {self.topic}: it has none")
            return []
        if isinstance(self.backend, MemberlessCommit):
            return self._replay_claimed(wanted, self.backend)
        with self.backend.consumer(REPLAY_GROUP, [self.name]) as consumer:
            # Membership (the partitions it owns) keeps two replays from republishing the same
            # letters, and the commit needs it; the letters are read directly, from the start.
            owned = {tp.partition for tp in consumer.wait_for_assignment(timeout=30.0)}
            # partition 0 too, owned or not: markers are written there
            records = self._read_all(owned | {0}) if owned else []
            letters = [d for d in self._pending(records, wanted) if _dlq_partition(d) in owned]
            self._republish(letters)
            mine = [r for r in records if r.partition in owned]
            if wanted is None and mine:
                consumer.commit_records(mine)
        return letters

    def _pending(self, records: list[Record], wanted: set[str] | None) -> list[DeadLetter]:
        """The letters among ``records`` to replay: ``wanted`` (ids; ``None``: every one),
        first of their duplicates, not replayed yet."""
        every = _all_letters(records)
        if wanted is not None:
            if missing := wanted - {d.id for d in every}:
                raise NotFound(f"no dead letters {sorted(missing)} on {self.name}")
            wanted = {_identity(d) for d in every if d.id in wanted}  # duplicates too
        return [
            d
            for d in _dedupe(every)
            if not d.replayed and (wanted is None or _identity(d) in wanted)
        ]

    def _replay_claimed(
        self, wanted: set[str] | None, committer: MemberlessCommit
    ) -> list[DeadLetter]:
        """Replay joining no group: claim, read up to the claim, republish what is ours."""
        records = self._read_all()
        letters = self._pending(records, wanted)
        if letters:
            token = uuid.uuid4().hex
            try:
                self._claim(token, letters)
                seen = _merged(records, self._read_after(records))
                letters = _claimed_first(seen, letters, token)
                self._republish(letters, token)
            finally:
                self._release(token)
        if wanted is None and records:
            # Past the records looked at for letters, as a member commits; letters parked
            # since are left for the next replay.
            self._commit_read(committer, records)
        return letters

    def _claim(self, token: str, letters: list[DeadLetter]) -> None:
        ids = [d.id for d in letters]
        chunks = [ids[i : i + _CLAIM_CHUNK] for i in range(0, len(ids), _CLAIM_CHUNK)]
        self.backend.produce(
            self.name,
            [
                Message(b"", None, [*_claim_headers(token), (_CLAIMED, ",".join(c).encode())], 0)
                for c in chunks
            ],
        )

    def _read_after(self, records: list[Record]) -> list[Record]:
        """Partition 0 (letters, markers and claims) past ``records``, up to its end now."""
        last = max((r.offset for r in records if r.partition == 0), default=-1)
        try:
            return self.backend.read_to_end(self.name, {0: last + 1})
        except NotFound:
            return []

    def _release(self, token: str) -> None:
        headers = [*_claim_headers(token), (_RELEASED, b"")]
        try:
            self.backend.produce(self.name, [Message(b"", None, headers, partition=0)])
        except SkybridgeError as exc:
            log.warning(
                "dead-letter claim not released; it lapses after its lease",
                topic=self.name,
                lease=CLAIM_LEASE,
                error=str(exc),
            )

    def _commit_read(self, committer: MemberlessCommit, records: list[Record]) -> None:
        """Commit the group past ``records`` where that moves it forward of what it had when
        read (two replays committing at once may leave it behind the one that read further:
        lag only; markers say what was replayed)."""
        committed = self.backend.committed(REPLAY_GROUP, self.name)
        positions = {
            tp.partition: position
            for tp, position in next_positions(records).items()
            if position > (committed.get(tp.partition) or 0)
        }
        try:
            committer.commit_group(REPLAY_GROUP, self.name, positions)
        except Conflict as exc:
            # Its members (an older skybridge replaying now) commit their own positions; the
            # markers, not the group, say what was replayed.
            log.warning(
                "dead-letter group not committed: it has members",
                group=REPLAY_GROUP,
                topic=self.name,
                error=str(exc),
            )

    def park(self, message: Message) -> str:
        """Add a letter made by :func:`letter_message` (creating the dead-letter topic if
        needed); return its id."""
        ensure_dlq(self.backend, self.topic)
        [produced] = self.backend.produce(self.name, [message])
        return f"{produced.partition}:{produced.offset}"

    def mark_replayed(self, letter: DeadLetter, *, claim: str | None = None) -> None:
        """Record that ``letter`` was handled elsewhere (replayed without republishing);
        ``claim``: the token of the replay's claim."""
        headers = [(_MARKER, letter.id.encode())]
        if letter.offset >= 0:  # a letter never read from the topic has no original to name
            headers.append((_MARKER_SOURCE, letter.source.encode()))
        if claim is not None:
            headers.append((_CLAIM, claim.encode()))
        self.backend.produce(self.name, [Message(b"", None, headers, partition=0)])

    def _republish(self, letters: list[DeadLetter], claim: str | None = None) -> None:
        partitions: dict[str, int] = {}
        for letter in letters:
            topic = self.letter_topic(letter)
            if topic not in partitions:
                partitions[topic] = self.backend.describe(topic).partitions
            # The original partition (the key's partition may have moved since), if it exists.
            partition = letter.partition if 0 <= letter.partition < partitions[topic] else None
            original = Message(
                letter.value, letter.key, letter.headers, partition, letter.timestamp
            )
            self.backend.produce(topic, [original])
            self.mark_replayed(letter, claim=claim)

    def letter_topic(self, letter: DeadLetter) -> str:
        return letter.topic or self.topic

    def _read_all(self, partitions: set[int] | None = None) -> list[Record]:
        """The dead-letter topic's records (of ``partitions``, default all) from the start up
        to the end offsets of when the read began; none when the topic does not exist."""
        if partitions is not None and not partitions:
            return []
        offsets = None if partitions is None else dict.fromkeys(partitions, 0)
        try:
            return self.backend.read_to_end(self.name, offsets)
        except NotFound:
            return []


def _claim_headers(token: str) -> list[tuple[str, bytes]]:
    """Headers of a claim or release record: the token, and a marker header naming no letter,
    so that readers which know only markers (earlier releases) skip the record too."""
    return [(_MARKER, f"claim:{token}".encode()), (_CLAIM, token.encode())]


def _dlq_partition(letter: DeadLetter) -> int:
    """The dead-letter topic's partition holding ``letter`` (its id is ``partition:offset``)."""
    return int(letter.id.partition(":")[0])


def _all_letters(records: list[Record]) -> list[DeadLetter]:
    """Every letter among ``records`` (markers, claims and releases left out), duplicates
    included."""
    markers = (_MARKER, _MARKER_SOURCE)
    replayed = {v.decode() for r in records for k, v in r.headers if k in markers}
    return [
        DeadLetter.from_record(r, replayed)
        for r in records
        if not any(k in _BOOKKEEPING for k, _ in r.headers)
    ]


def _merged(records: list[Record], later: list[Record]) -> list[Record]:
    """``records`` and the ``later`` ones not among them, by partition and offset."""
    seen = {(r.partition, r.offset) for r in records}
    added = [r for r in later if (r.partition, r.offset) not in seen]
    return sorted([*records, *added], key=lambda r: (r.partition, r.offset))


def _live_claims(records: list[Record], now: float) -> set[str]:
    """Tokens of the claims among ``records`` not released, with a record in the lease."""
    last: dict[str, float] = {}
    released: set[str] = set()
    for record in records:
        headers = dict(record.headers)
        token = headers.get(_CLAIM)
        if token is None:
            continue
        if _RELEASED in headers:
            released.add(token.decode())
        last[token.decode()] = max(last.get(token.decode(), 0.0), record.timestamp)
    return {t for t, at in last.items() if t not in released and now - at < CLAIM_LEASE}


def _claimed_first(
    records: list[Record], letters: list[DeadLetter], token: str
) -> list[DeadLetter]:
    """The ``letters`` still not replayed whose first live claim among ``records`` (read up to
    the claim of ``token``) is that one: of two replays claiming a letter, the earlier claim
    wins, and each sees it, as each read up to its own."""
    live = _live_claims(records, time.time()) | {token}
    first: dict[str, str] = {}
    for record in records:
        headers = dict(record.headers)
        claim, claimed = headers.get(_CLAIM), headers.get(_CLAIMED)
        if claim is None or claimed is None or claim.decode() not in live:
            continue
        for letter_id in claimed.decode().split(","):
            first.setdefault(letter_id, claim.decode())
    replayed = {d.id for d in _letters(records) if d.replayed}
    return [d for d in letters if d.id not in replayed and first.get(d.id) == token]


def _identity(letter: DeadLetter) -> str:
    """What makes two letters duplicates: the same original record."""
    return letter.source if letter.offset >= 0 else letter.id


def _dedupe(letters: list[DeadLetter]) -> list[DeadLetter]:
    """The first letter per original record (replayed if any of its duplicates was)."""
    first: dict[str, DeadLetter] = {}
    for letter in letters:
        kept = first.setdefault(_identity(letter), letter)
        if kept is not letter and letter.replayed and not kept.replayed:
            first[_identity(letter)] = replace(kept, replayed=True)
    return list(first.values())


def _letters(records: list[Record]) -> list[DeadLetter]:
    return _dedupe(_all_letters(records))
