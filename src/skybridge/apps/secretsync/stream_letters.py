"""secretsync's dead letters on the runtime's dead-letter topic ``<events_topic>.dlq``.

One store for every path: records the events pipeline gives up on are parked there by the
runtime, and events handled directly (``secrets sync --event``, the API, a function) that fail
are parked there by :class:`StreamDeadLetters` with partition and offset ``-1``. A replay
through the engine syncs the letter's event here and now and marks it replayed;
``skybridge stream dlq replay`` republishes letters to the events topic instead.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skybridge.apps.secretsync.deadletters import DeadLetter
from skybridge.backends import streams
from skybridge.backends.streams import Record, StreamBackend
from skybridge.core.errors import NotFound
from skybridge.core.secret import scrub
from skybridge.core.urls import BackendURL
from skybridge.runtime import deadletter
from skybridge.runtime.deadletter import DeadLetters as TopicLetters

PIPELINE = "secretsync"
_MAPPING = "skybridge-secretsync-mapping"
_ATTEMPTS = "skybridge-secretsync-attempts"
#: How the events pipeline names the mapping in a dead letter's reason.
_MAPPING_IN_REASON = re.compile(r"mapping '([A-Za-z0-9_.-]+)'")


def _event_of(value: bytes) -> Mapping[str, Any]:
    try:
        event = json.loads(value)
    except ValueError:
        return {"unparsed": value.decode("utf-8", "replace")[:2000]}
    return event if isinstance(event, dict) else {"unparsed": value.decode("utf-8", "replace")}


def _as_letter(letter: deadletter.DeadLetter) -> DeadLetter:
    headers = dict(letter.headers)
    mapping = headers.get(_MAPPING, b"").decode() or None
    if mapping is None and (named := _MAPPING_IN_REASON.search(letter.error)):
        mapping = named.group(1)
    attempts = int(headers.get(_ATTEMPTS, b"1").decode() or 1)
    return DeadLetter(
        letter_id=letter.id,
        event=_event_of(letter.value),
        reason=scrub(letter.error),
        error_type=letter.error_type,
        mapping=mapping,
        attempts=attempts,
        first_failed_at=letter.failed_at,
        last_failed_at=letter.failed_at,
    )


class StreamDeadLetters:
    """The :class:`~.deadletters.DeadLetters` of secretsync on ``<topic>.dlq`` at ``url``."""

    def __init__(self, url: str, topic: str, *, idle_timeout: float = 1.0) -> None:
        self.url = url
        self.topic = topic
        self.idle_timeout = idle_timeout
        self._backend: StreamBackend | None = None

    def _exists(self) -> bool:
        """False for an embedded log that was never created (nothing to list: don't make one)."""
        parsed = BackendURL.parse(self.url)
        return parsed.scheme != "sqlite" or Path(parsed.sqlite_path()).exists()

    def _letters(self) -> TopicLetters:
        if self._backend is None:
            self._backend = streams.connect(self.url, setting="backends.streams")
        return TopicLetters(self._backend, self.topic, idle_timeout=self.idle_timeout)

    def _pending(self) -> list[deadletter.DeadLetter]:
        if not self._exists():
            return []
        return [x for x in self._letters().letters() if not x.replayed]

    def put(
        self,
        event: Mapping[str, Any],
        *,
        reason: str,
        error_type: str,
        mapping: str | None = None,
        attempts: int = 1,
    ) -> DeadLetter:
        value = json.dumps(dict(event), default=str).encode()
        headers = [(_ATTEMPTS, str(attempts).encode())]
        if mapping is not None:
            headers.append((_MAPPING, mapping.encode()))
        record = Record(self.topic, -1, -1, None, value, tuple(headers), time.time())
        reason = scrub(reason)
        message = deadletter.letter_message(record, error_type, reason, PIPELINE)
        ident = self._letters().park(message)
        when = record.timestamp
        return DeadLetter(ident, dict(event), reason, error_type, mapping, attempts, when, when)

    def list(self, limit: int | None = None) -> list[DeadLetter]:
        letters = [_as_letter(x) for x in self._pending()]
        letters.sort(key=lambda letter: letter.first_failed_at)
        return letters if limit is None else letters[:limit]

    def _find(self, letter_id: str) -> deadletter.DeadLetter:
        for letter in self._pending():
            if letter.id == letter_id:
                return letter
        raise NotFound(f"dead letter '{letter_id}' not found on {self.topic}.dlq")

    def replay(self, letter_id: str) -> DeadLetter:
        return _as_letter(self._find(letter_id))

    def remove(self, letter_id: str) -> bool:
        try:
            letter = self._find(letter_id)
        except NotFound:
            return False
        self._letters().mark_replayed(letter)
        return True

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
