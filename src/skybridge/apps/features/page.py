"""The dashboard page ``/ui/features``: views, the online entities, the offline log's last
scheduled compaction, one entity's live features and a prediction for it.

Forms POST (with the CSRF field) ``action=lookup`` (``entity``, ``view``): the entity's
current features with their age and, when missing, why; or ``action=predict`` (``entity``):
the model's answer with the input row it got. Page load reads the online store only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from skybridge.apps.features.display import shown, time_features
from skybridge.apps.features.logstats import counted_stats
from skybridge.apps.features.maintenance import LastCompaction, last_compaction
from skybridge.apps.features.operations import view_summary
from skybridge.apps.features.store import Context, FeatureStore, open_store
from skybridge.apps.features.vector import FeatureVector
from skybridge.apps.kit.timefmt import ago
from skybridge.apps.kit.web import AppPage, page_errors, pipeline_charts
from skybridge.core.clock import duration_text, when
from skybridge.core.errors import SkybridgeError

PACKAGE = "skybridge.apps.features"
TEMPLATE = "features.html"
ACTIONS = ("lookup", "predict")
#: Entities listed on the page, and the features shown per entity.
SHOWN_ENTITIES, SHOWN_FEATURES = 12, 5


def _age(seconds: float | None) -> str:
    return "—" if seconds is None else duration_text(seconds)


def _number(value: Any) -> str:
    """A model's output for people: plain decimals, never ``1.3e-08``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if value == 0 or 1e-4 <= abs(value) < 1e6:
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if abs(value) < 1e-4:
        return "< 0.0001" if value > 0 else "> -0.0001"
    return f"{value:,.0f}"


def _prediction(answer: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of a prediction: the value readable, the model by its file name
    (not its path on the server), the features' age in words."""
    fresh = answer.get("freshness_seconds")
    model = str(answer.get("model", ""))
    return {
        **answer,
        "shown": _number(answer.get("prediction")),
        "model_name": model.rstrip("/").rsplit("/", 1)[-1] or model,
        "age": None if fresh is None else duration_text(fresh),
    }


def vector_rows(vector: FeatureVector, times: set[str]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "value": shown(v.value, name in times),
            "missing": v.missing,
            "age": _age(None if v.event_time is None else vector.at - v.event_time),
        }
        for name, v in vector.values.items()
    ]


def _overview(store: FeatureStore) -> dict[str, Any]:
    view = store.model_view()
    names = [f.name for f in view.features][:SHOWN_FEATURES]
    entities = store.online.entities(view.name, limit=SHOWN_ENTITIES)
    vectors = store.get(view.name, entities) if entities else []
    times = time_features(view)
    rows = [
        {
            "entity": v.entity,
            "age": _age(v.freshness),
            "values": [shown(v.values[n].value, n in times) for n in names],
        }
        for v in vectors
    ]
    kv, prefix = store.online.kv, store.config.offline_prefix
    stats = [counted_stats(kv, store.objects, v.name, prefix) for v in store.views]
    return {
        "views": [view_summary(v) for v in store.views],
        "model_view": view.name,
        "columns": names,
        "entities": rows,
        "log_files": sum(s["files"] for s in stats),
        "online_count": len(entities),
    }


def compaction_view(last: LastCompaction, every: float, now: float | None = None) -> dict[str, Any]:
    """What the page shows of the scheduled compaction's last run (``every``: its interval)
    and of the last one by hand; ``latest`` is the more recent of the two."""
    now = time.time() if now is None else now
    hand = last.by_hand
    by_hand = None
    if hand is not None:
        by_hand = {
            "status": hand.status,
            "ran": ago(hand.ran_at, now=now),
            "ran_at": when(hand.ran_at, seconds=True),
            "view": hand.view,
            "summary": hand.summary(),
            "error": hand.error,
        }
    scheduled = {"status": last.status, "ran": ago(last.ran_at, now=now)}
    scheduled_first = hand is None or (last.ran_at is not None and last.ran_at >= hand.ran_at)
    return {
        "latest": scheduled if scheduled_first else by_hand,
        "by_hand": by_hand,
        **scheduled,
        "ran_at": when(last.ran_at, seconds=True),
        "summary": last.summary(),
        "busy": (last.result or {}).get("busy") or [],
        "error": last.error,
        "next_run": None if last.next_run is None else when(last.next_run),
        # a run takes its time: only a next run an interval gone by is called overdue
        "overdue": last.next_run is not None and now > last.next_run + every,
        "runs": last.runs,
        "failures": last.failures,
        "every": duration_text(every),
    }


def _page(ctx: Context, **extra: Any) -> AppPage:
    values: dict[str, Any] = {"error": None, "lookup": None, "prediction": None, "views": []}
    values["charts"] = pipeline_charts("features", ctx.config.group)
    values["compaction"] = None
    values.update(extra)
    with page_errors(values), open_store(ctx, model=False, streams=False) as store:
        last = last_compaction(ctx, store)
        values["compaction"] = compaction_view(last, ctx.config.compact_every)
        values.update(_overview(store))
    return AppPage(PACKAGE, TEMPLATE, values)


def render_page(ctx: Context) -> AppPage:
    """GET ``/ui/features``."""
    return _page(ctx)


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/features``: ``action`` is ``lookup`` or ``predict``."""
    action = form.get("action", "")
    entity = form.get("entity", "").strip()
    if action not in ACTIONS:
        return _page(ctx, error=f"unknown action {action!r}; use lookup or predict")
    if not entity:
        return _page(ctx, error="Type an entity key to look up.")
    view = form.get("view") or None
    try:
        with open_store(ctx, model=action == "predict", streams=False) as store:
            if action == "predict":
                answer = store.predict(entity).to_dict()
                vector = store.get(store.model_view().name, [entity])[0]
            else:
                answer, vector = None, store.get(view, [entity])[0]
            times = time_features(store.view(vector.view))
    except SkybridgeError as exc:
        return _page(ctx, error=exc.message, hint=exc.hint, entity=entity)
    lookup = {
        "entity": entity,
        "view": vector.view,
        "found": vector.found,
        "age": _age(vector.freshness),
        "rows": vector_rows(vector, times),
    }
    prediction = None if answer is None else _prediction(answer)
    return _page(ctx, lookup=lookup, prediction=prediction, entity=entity)
