"""Dead letters: poison records parked on ``<topic>.dlq`` with their error, and replayed later.

A dead letter keeps the original key, value and headers and adds ``skybridge-dlq-*`` headers
(source topic/partition/offset, error type and message, pipeline, time). Replaying republishes
the original record to its topic and appends a *marker* record to the dead-letter topic, so
``list`` knows which ones were replayed; ``replay --all`` also commits the ``skybridge-dlq``
group on the dead-letter topic (its lag is the number of letters never looked at).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from skybridge.backends.streams.base import Consumer, StreamBackend
from skybridge.backends.streams.records import Headers, Message, Record
from skybridge.core.errors import NotFound

DLQ_SUFFIX = ".dlq"
#: Group that replays (and commits) a dead-letter topic.
REPLAY_GROUP = "skybridge-dlq"
_PREFIX = "skybridge-dlq-"
_MARKER = _PREFIX + "replayed"
#: Longest error message kept in a header.
_MAX_ERROR = 2000


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
    meta = {
        "topic": record.topic,
        "partition": str(record.partition),
        "offset": str(record.offset),
        "error-type": type(error).__name__,
        "error": str(error)[:_MAX_ERROR],
        "pipeline": pipeline,
        "failed-at": f"{time.time():.3f}",
    }
    headers = [*record.headers, *((_PREFIX + k, v.encode()) for k, v in meta.items())]
    return Message(record.value, record.key, headers, partition=0, timestamp=record.timestamp)


@dataclass(frozen=True)
class DeadLetter:
    """One parked record. ``id`` is ``partition:offset`` in the dead-letter topic."""

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

    @classmethod
    def from_record(cls, record: Record, replayed: set[str]) -> DeadLetter:
        meta = {k[len(_PREFIX) :]: v.decode() for k, v in record.headers if k.startswith(_PREFIX)}
        letter_id = f"{record.partition}:{record.offset}"
        return cls(
            id=letter_id,
            topic=meta.get("topic", ""),
            partition=int(meta.get("partition", "-1")),
            offset=int(meta.get("offset", "-1")),
            error_type=meta.get("error-type", ""),
            error=meta.get("error", ""),
            pipeline=meta.get("pipeline", ""),
            failed_at=float(meta.get("failed-at", "0")),
            key=record.key,
            value=record.value,
            headers=[(k, v) for k, v in record.headers if not k.startswith(_PREFIX)],
            replayed=letter_id in replayed,
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
        self.idle_timeout = idle_timeout

    def letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest first, with whether it was replayed."""
        group = f"skybridge-dlq-list-{uuid.uuid4().hex[:8]}"
        with self.backend.consumer(group, [self.name]) as consumer:
            return _letters(self._read_all(consumer))

    def replay(self, ids: Iterable[str] | None = None) -> list[DeadLetter]:
        """Republish the given (default: all not yet replayed) letters to their topic."""
        wanted = None if ids is None else set(ids)
        with self.backend.consumer(REPLAY_GROUP, [self.name]) as consumer:
            records = self._read_all(consumer, from_start=True)
            letters = [
                d
                for d in _letters(records)
                if not d.replayed and (wanted is None or d.id in wanted)
            ]
            if wanted is not None and (missing := wanted - {d.id for d in _letters(records)}):
                raise NotFound(f"no dead letters {sorted(missing)} on {self.name}")
            self._republish(letters)
            if wanted is None and records:
                consumer.commit_records(records)
        return letters

    def _republish(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            self.backend.produce(
                self.letter_topic(letter), [Message(letter.value, letter.key, letter.headers)]
            )
            marker = Message(b"", None, [(_MARKER, letter.id.encode())], partition=0)
            self.backend.produce(self.name, [marker])

    def letter_topic(self, letter: DeadLetter) -> str:
        return letter.topic or self.topic

    def _read_all(self, consumer: Consumer, *, from_start: bool = False) -> list[Record]:
        try:
            ends = self.backend.end_offsets(self.name)
        except NotFound:
            return []
        owned = consumer.wait_for_assignment(timeout=30.0)
        if from_start:
            for tp in owned:
                consumer.seek(tp, self.backend.start_offsets(self.name).get(tp.partition, 0))
        records: list[Record] = []
        last = time.monotonic()
        while time.monotonic() - last < self.idle_timeout:
            batch = consumer.poll(500, 0.2)
            if batch:
                records.extend(batch)
                last = time.monotonic()
            positions = {tp.partition: consumer.position(tp) or 0 for tp in owned}
            if all(positions.get(p, 0) >= end for p, end in ends.items()):
                break
        return records


def _letters(records: list[Record]) -> list[DeadLetter]:
    replayed = {v.decode() for r in records for k, v in r.headers if k == _MARKER}
    return [
        DeadLetter.from_record(r, replayed)
        for r in records
        if not any(k == _MARKER for k, _ in r.headers)
    ]
