"""Dead letters as the CLI, API and dashboard show them: never the event body.

There is one store per deployment (``[secretsync] dead_letters``): the runtime's dead-letter
topic ``<events_topic>.dlq`` (ids ``partition:offset``), or the state store for function
deployments without an event stream (ids of 20 hex characters). A replay syncs the letter's
event here and now; letters that succeed are marked done, those that fail again get a new letter.

Only the secret the event names is shown, never the event itself: a poison record can hold
anything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from skybridge.apps.secretsync.deadletters import DeadLetter
from skybridge.apps.secretsync.events import read_event, shown
from skybridge.apps.secretsync.service import SecretSyncService
from skybridge.core.errors import SkybridgeError, ValidationError
from skybridge.core.secret import scrub


@dataclass(frozen=True)
class LetterView:
    """One dead letter, safe to show."""

    id: str
    store: str
    mapping: str | None
    secret: str | None
    reason: str
    error_type: str
    attempts: int
    failed_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReplayView:
    id: str
    store: str
    ok: bool
    detail: str = ""
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _secret_of(event: Any) -> str | None:
    """The secret the event names, cut as in logs and outcomes (a poison event may carry a
    huge identifier)."""
    try:
        parsed = read_event(event)
    except (SkybridgeError, ValueError, TypeError):
        return None
    return shown(parsed.secret) if parsed.secret is not None else None


def _view(letter: DeadLetter, store: str) -> LetterView:
    return LetterView(
        letter.letter_id,
        store,
        letter.mapping,
        _secret_of(letter.event),
        scrub(letter.reason),
        letter.error_type,
        letter.attempts,
        letter.last_failed_at,
    )


def list_letters(service: SecretSyncService) -> list[LetterView]:
    """Every pending dead letter, oldest first."""
    store = service.config.dead_letters
    views = [_view(x, store) for x in service.engine.list_dead_letters()]
    return sorted(views, key=lambda v: v.failed_at)


def letter_counts(letters: list[LetterView]) -> Counter[str]:
    """Pending dead letters per mapping (letters naming no mapping are not counted)."""
    return Counter(x.mapping for x in letters if x.mapping is not None)


def replay_letters(service: SecretSyncService, ids: list[str] | None) -> list[ReplayView]:
    """Replay the given letters (``None``: all of them).

    Raises:
        NotFound: an id names no pending letter.
        ValidationError: ``ids`` is an empty list.
    """
    if ids is not None and not ids:
        raise ValidationError("name the dead letters to replay, or replay all of them")
    store = service.config.dead_letters
    return [
        ReplayView(r.letter_id, store, r.ok, scrub(r.detail), [o.to_dict() for o in r.outcomes])
        for r in service.engine.replay(ids)
    ]
