"""Retrieval-quality signals: Prometheus metrics, a rolling score, and alerts below baseline.

Every query records its embedding and retrieval latency, its top dense similarity and the end
to end time. The rolling retrieval score is the mean top similarity of the last
``rolling_window`` queries (kept in the kv store, shared by all processes). When a full window's
mean falls below the baseline's (recorded by ``skybridge rag eval``) by more than
``alert_margin``, the notify backend gets one alert per incident.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from prometheus_client import Gauge, Histogram

from skybridge.backends.kv import KeyValueStore
from skybridge.backends.notify import Notification, Notifier, Severity
from skybridge.core.errors import Conflict, SkybridgeError
from skybridge.core.observability import METRICS, get_logger

log = get_logger(__name__)
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

EMBED_LATENCY = Histogram(
    "skybridge_rag_embed_seconds",
    "Time to embed one query.",
    ["collection"],
    buckets=_FAST,
    registry=METRICS,
)
RETRIEVAL_LATENCY = Histogram(
    "skybridge_rag_retrieval_seconds",
    "Time to retrieve chunks for one query (after embedding).",
    ["collection", "mode"],
    buckets=_FAST,
    registry=METRICS,
)
END_TO_END = Histogram(
    "skybridge_rag_request_seconds",
    "End-to-end time of a query or ask, answer included.",
    ["collection", "operation"],
    buckets=_FAST,
    registry=METRICS,
)
SIMILARITY = Histogram(
    "skybridge_rag_top_similarity",
    "Cosine similarity of the best dense match of each query.",
    ["collection"],
    buckets=tuple(x / 20 for x in range(-20, 21)),
    registry=METRICS,
)
ROLLING = Gauge(
    "skybridge_rag_rolling_similarity",
    "Mean top similarity of the last rolling_window queries.",
    ["collection"],
    registry=METRICS,
)
EVAL_QUERY_NDCG = Histogram(
    "skybridge_rag_eval_query_ndcg",
    "nDCG@10 of each evaluated query, by mode.",
    ["collection", "mode"],
    buckets=tuple(x / 10 for x in range(11)),
    registry=METRICS,
)
EVAL_SCORE = Gauge(
    "skybridge_rag_eval_score",
    "Latest evaluation score, by mode and metric.",
    ["collection", "mode", "metric"],
    registry=METRICS,
)


def rolling_key(collection: str) -> str:
    return f"rag/{collection}/rolling"


def baseline_key(collection: str) -> str:
    return f"rag/{collection}/baseline"


def record_similarity(kv: KeyValueStore, collection: str, score: float, window: int) -> list[float]:
    """Add one query's top similarity to the shared window; the window after it."""
    SIMILARITY.labels(collection).observe(score)
    key = rolling_key(collection)
    for _ in range(5):
        item = kv.get_item(key)
        scores: list[float] = [] if item is None else list(json.loads(item.value))
        scores = [*scores, round(score, 6)][-window:]
        payload = json.dumps(scores).encode()
        try:
            kv.compare_and_set(key, payload, item.version if item else 0)
        except Conflict:
            continue
        ROLLING.labels(collection).set(sum(scores) / len(scores))
        return scores
    return []


def check_rolling(
    kv: KeyValueStore,
    notifier: Callable[[], Notifier],
    collection: str,
    scores: list[float],
    window: int,
    margin: float,
) -> dict[str, Any] | None:
    """Alert when a full window's mean is below the baseline similarity by more than ``margin``."""
    baseline = kv.get_json(baseline_key(collection)) or {}
    reference = baseline.get("similarity")
    if reference is None or len(scores) < window:
        return None
    mean = sum(scores) / len(scores)
    if mean >= reference - margin:
        return None
    finding = {
        "kind": "rolling",
        "rolling": round(mean, 4),
        "baseline": reference,
        "margin": margin,
    }
    alert(notifier(), collection, "rolling retrieval score fell below its baseline", finding)
    return finding


def alert(notifier: Notifier, collection: str, title: str, fields: dict[str, Any]) -> None:
    """Send one warning (de-duplicated per collection and kind); failures are logged."""
    note = Notification(
        title=f"rag {collection}: {title}",
        severity=Severity.WARNING,
        dedup_key=f"rag:{collection}:{fields.get('kind', 'quality')}",
        fields={k: str(v) for k, v in fields.items()},
        source="rag",
        body="Retrieval quality dropped; run `skybridge rag eval` to see where.",
    )
    try:
        notifier.send(note)
    except SkybridgeError as exc:
        log.warning("rag.alert_failed", collection=collection, reason=str(exc))
