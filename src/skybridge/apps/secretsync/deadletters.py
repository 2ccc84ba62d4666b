"""Dead letters: events that could not be synced, with the reason, kept for a replay.

:class:`DeadLetters` is the interface the engine uses. :class:`KvDeadLetters` keeps them in a
``kv`` store today; a stream-backed implementation (the runtime's dead-letter stream) can
replace it without touching the engine. A letter's id is derived from the event and mapping,
so a poison event that is redelivered lands once (its ``attempts`` grows).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol, runtime_checkable

from skybridge.backends.kv import KeyValueStore
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import NotFound
from skybridge.core.secret import scrub

PREFIX = "secretsync/dlq/"


@dataclass(frozen=True)
class DeadLetter:
    """An event (as received) that failed, and why."""

    letter_id: str
    event: Mapping[str, Any]
    reason: str
    error_type: str
    mapping: str | None
    attempts: int
    first_failed_at: float
    last_failed_at: float
    replays: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "event": dict(self.event)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeadLetter:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@runtime_checkable
class DeadLetters(Protocol):
    """Where events go after their last attempt."""

    def put(
        self,
        event: Mapping[str, Any],
        *,
        reason: str,
        error_type: str,
        mapping: str | None = None,
        attempts: int = 1,
    ) -> DeadLetter:
        """Store (or update) the letter for ``event``/``mapping``."""
        ...

    def list(self, limit: int | None = None) -> list[DeadLetter]:
        """Letters, oldest first."""
        ...

    def replay(self, letter_id: str) -> DeadLetter:
        """Mark a replay attempt of ``letter_id`` and return the letter (NotFound if gone)."""
        ...

    def remove(self, letter_id: str) -> bool:
        """Drop a letter (after a successful replay); ``True`` if it was there."""
        ...


def letter_id(event: Mapping[str, Any], mapping: str | None) -> str:
    canonical = json.dumps({"e": event, "m": mapping}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


class KvDeadLetters:
    """Dead letters as JSON documents in a key-value store."""

    def __init__(self, kv: KeyValueStore, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.kv = kv
        self.clock = clock

    def put(
        self,
        event: Mapping[str, Any],
        *,
        reason: str,
        error_type: str,
        mapping: str | None = None,
        attempts: int = 1,
    ) -> DeadLetter:
        ident = letter_id(event, mapping)
        now = self.clock.now()
        existing = self._get(ident)
        if existing is None:
            letter = DeadLetter(
                ident, dict(event), scrub(reason), error_type, mapping, attempts, now, now
            )
        else:
            letter = replace(
                existing,
                reason=scrub(reason),
                error_type=error_type,
                attempts=existing.attempts + attempts,
                last_failed_at=now,
            )
        self.kv.put_json(PREFIX + ident, letter.to_dict())
        return letter

    def list(self, limit: int | None = None) -> list[DeadLetter]:
        letters = [
            DeadLetter.from_dict(json.loads(item.value)) for item in self.kv.scan_prefix(PREFIX)
        ]
        letters.sort(key=lambda letter: letter.first_failed_at)
        return letters if limit is None else letters[:limit]

    def replay(self, letter_id: str) -> DeadLetter:
        letter = self._get(letter_id)
        if letter is None:
            raise NotFound(f"dead letter '{letter_id}' not found")
        letter = replace(letter, replays=letter.replays + 1)
        self.kv.put_json(PREFIX + letter_id, letter.to_dict())
        return letter

    def remove(self, letter_id: str) -> bool:
        return self.kv.delete(PREFIX + letter_id)

    def _get(self, ident: str) -> DeadLetter | None:
        data = self.kv.get_json(PREFIX + ident)
        return DeadLetter.from_dict(data) if isinstance(data, dict) else None
