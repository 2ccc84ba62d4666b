"""What the CLI and the page do beyond a read: apply definitions, consume until idle, rebuild
the online store from the log, build and train on training sets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.progress import Progress

from skybridge.apps.features.definitions import FeatureView
from skybridge.apps.features.durations import format_duration
from skybridge.apps.features.entity import fold
from skybridge.apps.features.ingest import dead_letters
from skybridge.apps.features.logstats import log_stats
from skybridge.apps.features.modeling import TrainedModel, train
from skybridge.apps.features.offline import iter_entities, read_log
from skybridge.apps.features.online import view_prefix
from skybridge.apps.features.store import Context, FeatureStore, open_store, store_views
from skybridge.apps.features.tabular import read_rows, write_rows
from skybridge.apps.features.training import TrainingSet
from skybridge.apps.features.worker import build_pipeline, ensure_topics
from skybridge.apps.kit.background import serve_pipeline
from skybridge.backends.kv import BatchWrite
from skybridge.core.errors import ConfigError, ValidationError
from skybridge.core.urls import BackendURL
from skybridge.runtime.deadletter import DeadLetters
from skybridge.runtime.state import Guarded, GuardedStore


def view_summary(view: FeatureView) -> dict[str, Any]:
    features = []
    for f in view.features:
        ttl = view.ttl_of(f)
        features.append(
            {
                "name": f.name,
                "agg": f.agg,
                "field": f.field,
                "window": format_duration(f.window) if f.window else None,
                "resolution": format_duration(f.resolution) if f.resolution else None,
                "ttl": format_duration(ttl) if ttl else None,
                "where": f.where or None,
                "of": list(f.of) if f.of else None,
                "default": f.default,
                "description": f.description,
            }
        )
    return {
        "name": view.name,
        "entity": view.entity,
        "topic": view.topic,
        "timestamp": view.timestamp,
        "ttl": format_duration(view.ttl) if view.ttl else None,
        "description": view.description,
        "features": features,
    }


def status_report(store: FeatureStore) -> dict[str, Any]:
    """Per view: entities online, the offline log, and the pipeline's dead letters not yet
    replayed (on ``<topic>.dlq``; ``None`` without a stream); the cloud functions' letters."""
    views = []
    pending: dict[str, int | None] = {}
    for view in store.views:
        if view.topic not in pending:
            pending[view.topic] = _pending_letters(store, view.topic)
        entities = sum(1 for _ in store.online.kv.keys(view_prefix(view), limit=100_000))
        stats = log_stats(store.objects, view.name, store.config.offline_prefix)
        views.append(
            {
                "name": view.name,
                "topic": view.topic,
                "entities": entities,
                "log_files": stats["files"],
                "log_bytes": stats["bytes"],
                "dead_letters": pending[view.topic],
            }
        )
    return {"views": views, "dead_letters": len(dead_letters(store, limit=10_000))}


def _pending_letters(store: FeatureStore, topic: str) -> int | None:
    if store.streams is None:
        return None
    return sum(1 for letter in DeadLetters(store.streams, topic).letters() if not letter.replayed)


def apply_views(store: FeatureStore, views: Sequence[FeatureView]) -> dict[str, Any]:
    """Store ``views`` as the applied definitions and create their topics."""
    if store.config.definitions is not None:
        raise ConfigError(
            "features.definitions names a file, which wins over applied definitions",
            setting="features.definitions",
            hint="edit that file instead, or remove the setting to use `apply`",
        )
    if store.streams is not None:
        ensure_topics(store.streams, sorted({v.topic for v in views}))
    store_views(store.online.kv, views)
    return {"views": [view_summary(v) for v in views]}


def consume_until_idle(ctx: Context, idle_exit: float, progress: Progress) -> dict[str, Any]:
    """Run the pipeline until no record arrives for ``idle_exit`` seconds."""
    pipeline = build_pipeline(ctx)
    task = progress.add_task("consuming events", total=None)
    try:
        stats = pipeline.run(idle_exit=idle_exit)
    finally:
        pipeline.close()
    progress.update(task, completed=stats.records, total=stats.records)
    return {
        "records": stats.records,
        "batches": stats.batches,
        "dead_letters": stats.dead_letters,
        "written": dict(stats.written),
    }


def serve_forever(ctx: Context) -> None:
    """Run the pipeline until SIGTERM or SIGINT."""
    serve_pipeline(build_pipeline(ctx))


def rebuild_from_log(ctx: Context, progress: Progress) -> dict[str, Any]:
    """Recompute every entity document from the offline log (guards from the logged offsets,
    so the pipeline goes on where the log ends without applying an event twice)."""
    written: dict[str, int] = {}
    with open_store(ctx, model=False, streams=False) as store:
        for view in store.views:
            rows = read_log(store.objects, view.name, store.config.offline_prefix)
            groups = list(iter_entities(rows))
            task = progress.add_task(f"rebuilding {view.name}", total=len(groups))
            guarded = GuardedStore(store.online.kv, view_prefix(view))
            for start in range(0, len(groups), 100):
                chunk = groups[start : start + 100]
                _write_docs(view, guarded, chunk)
                progress.advance(task, len(chunk))
            written[view.name] = len(groups)
    return {"entities": written}


def _write_docs(
    view: FeatureView, guarded: GuardedStore, chunk: list[tuple[str, list[Any]]]
) -> None:
    current = guarded.load([entity for entity, _ in chunk])
    writes = []
    for entity, rows in chunk:
        doc: dict[str, Any] | None = None
        guard: dict[str, int] = {}
        for row in rows:
            doc = fold(view, doc, row.parsed())
            guard[row.source] = max(row.offset, guard.get(row.source, -1))
        version = current[entity].version
        raw = Guarded(doc, guard, version).encode()
        writes.append(BatchWrite(guarded.prefix + entity, raw, version))
    guarded.kv.write_batch(writes)


def build_training_set(
    store: FeatureStore,
    view: str | None,
    entities: Path,
    as_of: str,
    entity_column: str | None,
    out: Path | None,
) -> TrainingSet:
    rows = read_rows(entities)
    result = store.training_set(view, rows, as_of=as_of, entity_column=entity_column)
    if out is not None:
        flat = [
            row | {"_missing": gone or None}
            for row, gone in zip(result.rows, result.missing, strict=True)
        ]
        write_rows(out, flat)
    return result


def model_path(ctx: Context) -> Path:
    """The file a ``local://`` model URL points at (training writes it)."""
    url = BackendURL.parse(ctx.backend_url("models"), setting="backends.models")
    if url.scheme != "local":
        raise ConfigError(
            f"training writes local model files; backends.models is {url.scheme}://",
            setting="backends.models",
            hint="deploy the trained file to your endpoint yourself, or use local://",
        )
    return url.location()


def train_model(
    ctx: Context, store: FeatureStore, entities: Path, as_of: str, label: str
) -> TrainedModel:
    view = store.model_view()
    data = store.training_set(view.name, read_rows(entities), as_of=as_of)
    if label not in data.rows[0]:
        raise ValidationError(f"entity rows have no label column {label!r}")
    return train(data, store.model_columns_for_training(), label, model_path(ctx))


def parse_inputs(pairs: Sequence[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        try:
            found[name.strip()] = float(text)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ValidationError(f"--input {pair!r}: write NAME=NUMBER")
    return found


def parse_label(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number
