"""Series maths for the metrics history: what one sample reads from the Prometheus registry, and
the values two samples give (rates from counters, quantiles from histogram buckets).

A :class:`Snapshot` holds cumulative counters and histogram buckets and current gauges, keyed
by the series they feed (the metric names of :data:`skybridge.apps.kit.web.SERIES_METRICS`).
:func:`derive` turns two snapshots into one value per series: a counter's increase per second
(a counter that went down was reset, so its whole value is the increase), a quantile of the
observations between the two (linear inside a bucket, as Prometheus' ``histogram_quantile``;
``None`` when nothing was observed) in milliseconds, and a gauge's latest value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

#: Upper bound of a bucket -> observations at or below it (cumulative).
Buckets = dict[float, float]
#: What each kind of histogram key gives: (metric, quantile) pairs.
QUANTILES: dict[str, tuple[tuple[str, float], ...]] = {
    "http": (("http_p50_ms", 0.5), ("http_p95_ms", 0.95)),
    "batch": (("batch_p95_ms", 0.95),),
    "api": (("api_p95_ms", 0.95),),
}
#: How a series is named in a chart's legend (``{label}``: the pipeline, app or group/topic).
LEGEND: dict[str, str] = {
    "records_per_s": "{label}",
    "batch_p95_ms": "{label} batch p95",
    "lag": "{label}",
    "http_requests_per_s": "HTTP requests",
    "http_p50_ms": "HTTP p50",
    "http_p95_ms": "HTTP p95",
    "api_requests_per_s": "{label} API",
    "api_p95_ms": "{label} API p95",
}


@dataclass
class Snapshot:
    """The registry at one moment (``at``, Unix seconds), keyed by series."""

    at: float
    counters: dict[str, float] = field(default_factory=dict)
    histograms: dict[str, Buckets] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)

    def add_count(self, key: str, value: float) -> None:
        self.counters[key] = self.counters.get(key, 0.0) + value

    def add_bucket(self, key: str, bound: float, value: float) -> None:
        buckets = self.histograms.setdefault(key, {})
        buckets[bound] = buckets.get(bound, 0.0) + value


def series_key(metric: str, label: str | None = None) -> str:
    """``metric`` or ``metric:label``."""
    return metric if label is None else f"{metric}:{label}"


def legend(key: str) -> str:
    """A series' name in a chart's legend: ``HTTP p95``, ``secretsync batch p95``..."""
    metric, _, label = key.partition(":")
    return LEGEND.get(metric, "{label}").format(label=label.replace("/", " / ") or metric)


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The ``q`` quantile of cumulative ``buckets`` (None when they hold no observation).

    The rank falls in the first bucket whose count reaches it and is placed linearly between
    that bucket's bounds; in the ``+Inf`` bucket, the highest finite bound is the answer.
    """
    ordered = sorted(buckets.items())
    total = ordered[-1][1] if ordered else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _increase(before: float, now: float) -> float:
    return now if now < before else now - before


def _bucket_increase(before: Buckets, now: Buckets) -> Buckets:
    if any(count < before.get(bound, 0.0) for bound, count in now.items()):
        return dict(now)  # reset: everything counted since
    return {bound: count - before.get(bound, 0.0) for bound, count in now.items()}


def derive(previous: Snapshot, current: Snapshot) -> dict[str, float | None]:
    """One value per series for the time between ``previous`` and ``current``."""
    elapsed = current.at - previous.at
    if elapsed <= 0:
        return {}
    values: dict[str, float | None] = {}
    for key, total in current.counters.items():
        values[key] = _increase(previous.counters.get(key, 0.0), total) / elapsed
    for key, buckets in current.histograms.items():
        kind, sep, label = key.partition(":")
        observed = _bucket_increase(previous.histograms.get(key, {}), buckets)
        for metric, q in QUANTILES[kind]:
            seconds = quantile(q, observed)
            values[metric + sep + label] = None if seconds is None else seconds * 1000
    values.update(current.gauges)
    return values


# -- reading the registry -------------------------------------------------------------------


def _app_of(route: str, apps: frozenset[str]) -> str | None:
    """The app whose API the route template belongs to (``/api/<app>/...``), if any."""
    parts = route.split("/", 3)
    return parts[2] if len(parts) > 2 and parts[1] == "api" and parts[2] in apps else None


def _http_requests(snap: Snapshot, sample: Any, apps: frozenset[str]) -> None:
    if sample.name.endswith("_total"):
        snap.add_count("http_requests_per_s", sample.value)
        app = _app_of(sample.labels.get("route", ""), apps)
        if app is not None:
            snap.add_count(series_key("api_requests_per_s", app), sample.value)


def _http_seconds(snap: Snapshot, sample: Any, apps: frozenset[str]) -> None:
    if sample.name.endswith("_bucket"):
        bound = float(sample.labels["le"])
        snap.add_bucket("http", bound, sample.value)
        app = _app_of(sample.labels.get("route", ""), apps)
        if app is not None:
            snap.add_bucket(series_key("api", app), bound, sample.value)


def _records_in(snap: Snapshot, sample: Any, _apps: frozenset[str]) -> None:
    if sample.name.endswith("_total"):
        snap.add_count(series_key("records_per_s", sample.labels["pipeline"]), sample.value)


def _batch_seconds(snap: Snapshot, sample: Any, _apps: frozenset[str]) -> None:
    if sample.name.endswith("_bucket"):
        key = series_key("batch", sample.labels["pipeline"])
        snap.add_bucket(key, float(sample.labels["le"]), sample.value)


def _group_lag(snap: Snapshot, sample: Any, _apps: frozenset[str]) -> None:
    label = f"{sample.labels['group']}/{sample.labels['topic']}"
    snap.gauges[series_key("lag", label)] = sample.value


_READERS: dict[str, Callable[[Snapshot, Any, frozenset[str]], None]] = {
    "skybridge_http_requests": _http_requests,
    "skybridge_http_request_seconds": _http_seconds,
    "skybridge_pipeline_records_in": _records_in,
    "skybridge_pipeline_batch_seconds": _batch_seconds,
    "skybridge_consumer_group_lag": _group_lag,
}


def read_snapshot(registry: CollectorRegistry, apps: Iterable[str], at: float) -> Snapshot:
    """What the series need from ``registry`` now; ``apps`` names the apps whose
    ``/api/<app>`` routes get series of their own."""
    snap, names = Snapshot(at), frozenset(apps)
    for app in names:  # an app's API had no request yet: zero per second, not "no data"
        snap.counters[series_key("api_requests_per_s", app)] = 0.0
    for family in registry.collect():
        reader = _READERS.get(family.name)
        if reader is not None:
            for sample in family.samples:
                reader(snap, sample, names)
    return snap
