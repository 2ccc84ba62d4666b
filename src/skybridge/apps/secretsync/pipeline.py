"""The event path on the stream runtime: ``secretsync.events`` -> ``SecretSync.sync_event``.

Each record is one secret-change event (EventBridge JSON, or a ``skybridge.secretsync`` manual
event from :func:`publish_event`). Transient failures are retried by the engine, then by the
runtime; after that, and at once for events that can never succeed (not JSON, not an event, a
payload the mapping cannot build), the record goes to the runtime's dead-letter topic
``secretsync.events.dlq`` with its reason. ``skybridge secrets dlq replay`` republishes it.

The manifest declares it as pipeline ``events``: ``skybridge worker run secretsync`` runs it
with the app's scheduled reconcile (:mod:`.schedule`), and ``skybridge up`` runs both beside the
HTTP service.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from skybridge.apps.secretsync.deadletters import DeadLetter
from skybridge.apps.secretsync.events import manual_event
from skybridge.apps.secretsync.service import Context, SecretSyncService, build_service
from skybridge.apps.secretsync.state import StateStore
from skybridge.backends import streams
from skybridge.backends.streams import StreamBackend
from skybridge.core.errors import NotFound, TerminalError
from skybridge.core.retry import RetryPolicy
from skybridge.core.secret import scrub
from skybridge.runtime.outputs import Event, Output
from skybridge.runtime.pipeline import Pipeline

PIPELINE_NAME = "secretsync"
#: The runtime retries a transient failure this often after the engine's own retries.
RUNTIME_RETRY = RetryPolicy(attempts=2, base_delay=0.2, max_delay=2.0, deadline=30.0)


class EventDeadLettered(TerminalError):
    """The engine gave up on an event; the runtime parks the record on the dead-letter topic."""


class RuntimeDeadLetters:
    """The engine's :class:`DeadLetters` inside the pipeline: record the error, then raise.

    Raising hands the record to the runtime, which writes it to ``<topic>.dlq`` with the reason
    (so there is one dead-letter store for the event path: the runtime's topic).
    """

    def __init__(self, state: StateStore | None = None) -> None:
        self.state = state  # set once the engine (which owns the state store) exists

    def put(
        self,
        event: Mapping[str, Any],
        *,
        reason: str,
        error_type: str,
        mapping: str | None = None,
        attempts: int = 1,
    ) -> DeadLetter:
        if mapping is not None and self.state is not None:
            self.state.record_error(mapping, reason)
        reason = scrub(reason)
        named = f"mapping '{mapping}'"
        where = f"{named}: " if mapping and named not in reason else ""
        raise EventDeadLettered(f"{where}{error_type}: {reason}")

    def list(self, limit: int | None = None) -> list[DeadLetter]:
        return []

    def replay(self, letter_id: str) -> DeadLetter:
        raise NotFound(f"dead letter '{letter_id}' is on the runtime dead-letter topic")

    def remove(self, letter_id: str) -> bool:
        return False


@dataclass
class SecretSyncPipeline(Pipeline):
    """The events pipeline, owning its engine (:meth:`close` releases it and the backend)."""

    service: SecretSyncService | None = None

    def close(self) -> None:
        if self.service is not None:
            self.service.close()
        if isinstance(self.source, StreamBackend):
            self.source.close()


def sync_handler(service: SecretSyncService) -> Any:
    """The pure handler: sync the event; raise so the runtime retries or dead-letters."""

    def handle(event: Event) -> Iterable[Output]:
        service.engine.sync_event(event.value, on_transient="raise")
        return ()

    return handle


def ensure_topics(backend: StreamBackend, topic: str) -> None:
    backend.create_topic(topic, 1)


def build_pipeline(
    ctx: Context, *, poll_timeout: float = 0.5, **engine_options: Any
) -> SecretSyncPipeline:
    """The events pipeline on ``backends.streams`` and the configured table.

    Args:
        ctx: the app context.
        poll_timeout: seconds a poll waits (also how fast :meth:`stop` is honoured).
        engine_options: passed to :class:`SecretSync` (``stores``, ``retry``...).
    """
    letters = RuntimeDeadLetters()
    service = build_service(ctx, dead_letters=letters, **engine_options)
    letters.state = service.engine.state
    backend: StreamBackend | None = None
    try:
        backend = streams.connect(service.streams_url, setting="backends.streams")
        ensure_topics(backend, service.events_topic)
    except BaseException:
        service.close()
        if backend is not None:
            backend.close()
        raise
    return SecretSyncPipeline(
        PIPELINE_NAME,
        source=backend,
        topics=[service.events_topic],
        handler=sync_handler(service),
        retry=RUNTIME_RETRY,
        poll_timeout=poll_timeout,
        batch_size=50,
        service=service,
    )


def publish_event(backend: StreamBackend, topic: str, event: Mapping[str, Any]) -> None:
    """Append one event to the events topic (keyed by secret, so one secret stays ordered)."""
    detail = event.get("detail")
    secret = detail.get("secret") if isinstance(detail, Mapping) else None
    key = str(secret or event.get("resources", [""])[0] or "").encode() or None
    backend.produce_one(topic, json.dumps(dict(event)).encode(), key=key)


def publish_change(backend: StreamBackend, topic: str, secret: str, version_id: str) -> None:
    """Announce that ``secret`` has a new current version (what a local writer sends)."""
    publish_event(backend, topic, manual_event(secret, version_id))
