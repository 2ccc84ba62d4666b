"""Dead letters as the CLI, API and dashboard show them: both stores, never the event body.

* ``kv`` letters: events the engine gave up on outside the pipeline (CLI ``sync --event``,
  Lambda, API). Ids are 20 hex characters. Replay re-runs the sync here and now.
* ``stream`` letters: records of the events topic the pipeline parked on ``<topic>.dlq``.
  Ids are ``partition:offset``. Replay republishes the record to the events topic, where the
  worker syncs it.

Only the secret the event names is shown, never the event itself: a poison record can hold
anything.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from skybridge.apps.secretsync.deadletters import DeadLetter
from skybridge.apps.secretsync.events import parse_event
from skybridge.apps.secretsync.service import SecretSyncService
from skybridge.backends import streams
from skybridge.backends.streams import StreamBackend
from skybridge.core.errors import NotFound, SkybridgeError, ValidationError
from skybridge.core.secret import scrub
from skybridge.core.urls import BackendURL
from skybridge.runtime.deadletter import DeadLetters as StreamLetters

Store = Literal["kv", "stream"]
#: How the events pipeline names the mapping in a dead letter's reason.
_MAPPING_IN_REASON = re.compile(r"mapping '([A-Za-z0-9_.-]+)'")


@dataclass(frozen=True)
class LetterView:
    """One dead letter, safe to show."""

    id: str
    store: Store
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
    store: Store
    ok: bool
    detail: str = ""
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_stream_id(letter_id: str) -> bool:
    head, colon, tail = letter_id.partition(":")
    return bool(colon) and head.isdigit() and tail.isdigit()


def _secret_of(event: Any) -> str | None:
    try:
        parsed = parse_event(event)
    except (SkybridgeError, ValueError, TypeError):
        return None
    return parsed.secret if parsed is not None else None


def _kv_view(letter: DeadLetter) -> LetterView:
    return LetterView(
        letter.letter_id,
        "kv",
        letter.mapping,
        _secret_of(letter.event),
        letter.reason,
        letter.error_type,
        letter.attempts,
        letter.last_failed_at,
    )


def _stream_backend(service: SecretSyncService) -> StreamBackend | None:
    """The events backend, or ``None`` when it is an embedded log that was never created."""
    url = service.streams_url
    parsed = BackendURL.parse(url)
    if parsed.scheme == "sqlite" and not Path(parsed.sqlite_path()).exists():
        return None
    return streams.connect(url, setting="secretsync.streams")


def _stream_letters(service: SecretSyncService) -> list[LetterView]:
    backend = _stream_backend(service)
    if backend is None:
        return []
    with backend:
        try:
            letters = StreamLetters(backend, service.events_topic, idle_timeout=1.0).letters()
        except NotFound:  # no dead-letter topic: nothing ever failed
            return []
    views = []
    for letter in letters:
        if letter.replayed:
            continue
        try:
            body: Any = json.loads(letter.value)
        except ValueError:
            body = None
        named = _MAPPING_IN_REASON.search(letter.error)
        views.append(
            LetterView(
                letter.id,
                "stream",
                named.group(1) if named else None,
                _secret_of(body),
                scrub(letter.error),
                letter.error_type,
                1,
                letter.failed_at,
            )
        )
    return views


def list_letters(service: SecretSyncService) -> list[LetterView]:
    """Every pending dead letter, oldest first."""
    views = [_kv_view(x) for x in service.engine.list_dead_letters()]
    views += _stream_letters(service)
    return sorted(views, key=lambda v: v.failed_at)


def letter_counts(letters: list[LetterView]) -> Counter[str]:
    """Pending dead letters per mapping (letters naming no mapping are not counted)."""
    return Counter(x.mapping for x in letters if x.mapping is not None)


def replay_letters(service: SecretSyncService, ids: list[str] | None) -> list[ReplayView]:
    """Replay the given letters (``None``: all of both stores).

    Raises:
        NotFound: an id is in neither store.
        ValidationError: ``ids`` is an empty list.
    """
    if ids is not None and not ids:
        raise ValidationError("name the dead letters to replay, or replay all of them")
    kv_ids = None if ids is None else [i for i in ids if not is_stream_id(i)]
    stream_ids = None if ids is None else [i for i in ids if is_stream_id(i)]
    results: list[ReplayView] = []
    if kv_ids is None or kv_ids:
        for r in service.engine.replay(kv_ids):
            outcomes = [o.to_dict() for o in r.outcomes]
            results.append(ReplayView(r.letter_id, "kv", r.ok, scrub(r.detail), outcomes))
    if stream_ids is None or stream_ids:
        results += _replay_stream(service, stream_ids)
    return results


def _replay_stream(service: SecretSyncService, ids: list[str] | None) -> list[ReplayView]:
    backend = _stream_backend(service)
    if backend is None:
        if ids:
            raise ValidationError(f"no event stream at {service.streams_url}: no letters {ids}")
        return []
    with backend:
        try:
            replayed = StreamLetters(backend, service.events_topic, idle_timeout=1.0).replay(ids)
        except NotFound:
            if ids:
                raise
            return []  # no dead-letter topic: nothing to replay
    detail = f"republished to {service.events_topic}; the events worker syncs it"
    return [ReplayView(letter.id, "stream", True, detail) for letter in replayed]
