"""Applying a batch of records outside the stream runtime (cloud functions), with the same
handler, folds and sinks as the pipeline.

Records are applied in chunks, in order: each chunk's offline rows are written, then its
online documents (one ``write_batch`` per view, guarded like the pipeline's, so a chunk applied
again changes nothing). A malformed record is set aside as a dead letter in the kv store
(``features/letters/<topic>/<partition>/<offset>``) and the rest go on. A chunk that fails with
a ``TransientError`` stops the batch: :attr:`IngestResult.failed_from` names its first record,
so the caller reports it (Lambda's ``batchItemFailures``) and the service retries from there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skybridge.apps.features.pipeline import feature_handler, feature_sinks
from skybridge.apps.features.store import FeatureStore
from skybridge.backends.streams import Record
from skybridge.core import jsoncodec
from skybridge.core.errors import TransientError, ValidationError
from skybridge.core.observability import get_logger
from skybridge.runtime.outputs import Effect, Event
from skybridge.runtime.pipeline import record_key

log = get_logger(__name__)
CHUNK = 100
LETTERS = "features/letters/"
#: Characters of a dead letter's value kept with it.
LETTER_CHARS = 4096


@dataclass
class IngestResult:
    """What became of a batch: applied, dead-lettered, and the first record not applied."""

    applied: int = 0
    letters: list[str] = field(default_factory=list)
    failed_from: Record | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        failed = self.failed_from
        return {
            "applied": self.applied,
            "dead_lettered": self.letters,
            "failed_from": None
            if failed is None
            else f"{failed.topic}/{failed.partition}/{failed.offset}",
            "error": self.error,
        }


def apply_records(store: FeatureStore, records: Sequence[Record]) -> IngestResult:
    """Fold ``records`` into the online store and the offline log (see the module docstring)."""
    handler = feature_handler(store.views)
    sinks = feature_sinks(store.online, store.offline)
    result = IngestResult()
    for start in range(0, len(records), CHUNK):
        chunk = records[start : start + CHUNK]
        try:
            _apply_chunk(store, handler, sinks, chunk, result)
        except TransientError as exc:
            result.failed_from, result.error = chunk[0], str(exc)
            log.warning("features.ingest_failed", records=len(records) - start, error=str(exc))
            return result
        result.applied += len(chunk)
    result.applied -= len(result.letters)
    return result


def _apply_chunk(
    store: FeatureStore,
    handler: Any,
    sinks: dict[str, Any],
    chunk: Sequence[Record],
    result: IngestResult,
) -> None:
    by_sink: dict[str, list[Effect]] = {}
    for record in chunk:
        try:
            event = Event(record, record_key(record, None), jsoncodec.loads(record.value))
            outputs = handler(event)
        except (ValidationError, ValueError) as exc:
            result.letters.append(_dead_letter(store, record, exc))
            continue
        for index, output in enumerate(outputs):
            by_sink.setdefault(output.sink, []).append(Effect(record, index, output))
    ordered = sorted(by_sink, key=lambda name: name != "offline")  # the log before the state
    for name in ordered:
        sinks[name].write(by_sink[name])


def _dead_letter(store: FeatureStore, record: Record, exc: Exception) -> str:
    ident = f"{record.topic}/{record.partition}/{record.offset}"
    letter = {
        "error": getattr(exc, "message", str(exc)),
        "value": record.value.decode("utf-8", "replace")[:LETTER_CHARS],
        "timestamp": record.timestamp,
    }
    store.online.kv.put(LETTERS + ident, json.dumps(letter).encode())
    log.info("features.dead_lettered", record=ident, error=letter["error"])
    return ident


def dead_letters(store: FeatureStore, limit: int = 100) -> list[dict[str, Any]]:
    """Dead letters the cloud functions set aside, oldest key first."""
    found = []
    for item in store.online.kv.scan_prefix(LETTERS, limit=limit):
        found.append({"id": item.key[len(LETTERS) :], **json.loads(item.value)})
    return found
