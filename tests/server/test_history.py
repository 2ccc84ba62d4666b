"""The metrics history: series maths, the bounded ring buffer and the sampler."""

from __future__ import annotations

import math
import time

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from skybridge.server.history import HistorySampler, MetricsHistory, matches
from skybridge.server.series import Snapshot, derive, legend, quantile, read_snapshot

# -- series maths ---------------------------------------------------------------------------


def test_quantile_interpolates_inside_the_bucket() -> None:
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.7, buckets) == pytest.approx(0.1 + 0.4 * (70 - 50) / 40)
    assert quantile(0.95, buckets) == pytest.approx(0.5 + 0.5 * 5 / 10)
    assert quantile(0.25, buckets) == pytest.approx(0.05)  # the first bucket starts at 0


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert quantile(0.99, {0.1: 1.0, 1.0: 2.0, math.inf: 10.0}) == 1.0


def test_quantile_of_no_observation_is_none() -> None:
    assert quantile(0.5, {}) is None
    assert quantile(0.5, {0.1: 0.0, math.inf: 0.0}) is None


def test_derive_gives_rates_quantiles_in_ms_and_gauges() -> None:
    before = Snapshot(100.0, {"records_per_s:p": 10.0}, {"http": {0.1: 4.0, math.inf: 4.0}})
    now = Snapshot(
        105.0,
        {"records_per_s:p": 60.0, "records_per_s:new": 5.0},
        {"http": {0.1: 14.0, math.inf: 14.0}, "batch:p": {1.0: 2.0, math.inf: 2.0}},
        {"lag:g/t": 7.0},
    )
    values = derive(before, now)
    assert values["records_per_s:p"] == 10.0
    assert values["records_per_s:new"] == 1.0  # appeared since: counted from zero
    assert values["http_p50_ms"] == pytest.approx(50.0)
    assert values["http_p95_ms"] == pytest.approx(95.0)
    assert values["batch_p95_ms:p"] == pytest.approx(950.0)
    assert values["lag:g/t"] == 7.0


def test_derive_treats_a_counter_that_went_down_as_reset() -> None:
    before = Snapshot(0.0, {"http_requests_per_s": 500.0}, {"http": {1.0: 9.0, math.inf: 9.0}})
    now = Snapshot(10.0, {"http_requests_per_s": 20.0}, {"http": {1.0: 2.0, math.inf: 2.0}})
    values = derive(before, now)
    assert values["http_requests_per_s"] == 2.0
    assert values["http_p50_ms"] == pytest.approx(500.0)


def test_derive_without_observations_gives_none_and_no_time_gives_nothing() -> None:
    same = Snapshot(5.0, histograms={"http": {1.0: 3.0, math.inf: 3.0}})
    later = Snapshot(10.0, histograms={"http": {1.0: 3.0, math.inf: 3.0}})
    assert derive(same, later)["http_p95_ms"] is None
    assert derive(later, later) == {}


def test_read_snapshot_sums_routes_and_splits_pipelines_apps_and_groups() -> None:
    registry = CollectorRegistry()
    requests = Counter(
        "skybridge_http_requests", "", ["method", "route", "status"], registry=registry
    )
    seconds = Histogram(
        "skybridge_http_request_seconds", "", ["method", "route"], registry=registry
    )
    records = Counter("skybridge_pipeline_records_in", "", ["pipeline"], registry=registry)
    lag = Gauge("skybridge_consumer_group_lag", "", ["group", "topic"], registry=registry)
    requests.labels("GET", "/api/shop/items", "200").inc(3)
    requests.labels("GET", "/", "200").inc(2)
    seconds.labels("GET", "/api/shop/items").observe(0.02)
    records.labels("orders").inc(40)
    lag.labels("orders-group", "orders").set(12)
    snap = read_snapshot(registry, ["shop", "idle"], at=1.0)
    assert snap.counters == {
        "http_requests_per_s": 5.0,
        "api_requests_per_s:shop": 3.0,
        "api_requests_per_s:idle": 0.0,
        "records_per_s:orders": 40.0,
    }
    assert snap.histograms["http"] == snap.histograms["api:shop"]
    assert snap.histograms["http"][math.inf] == 1.0
    assert snap.gauges == {"lag:orders-group/orders": 12.0}


def test_legend_names_series_for_people() -> None:
    assert legend("http_p95_ms") == "HTTP p95"
    assert legend("batch_p95_ms:orders") == "orders batch p95"
    assert legend("lag:g/t") == "g / t"


# -- the ring buffer ------------------------------------------------------------------------


def test_selectors_match_keys_metrics_and_group_prefixes() -> None:
    assert matches("lag:g/t", ["lag"])
    assert matches("lag:g/t", ["lag:g"])
    assert matches("lag:g/t", ["lag:g/t"])
    assert not matches("lag:g2/t", ["lag:g"])
    assert not matches("records_per_s:ab", ["records_per_s:a"])
    assert matches("anything", [])


def test_history_keeps_at_most_capacity_samples() -> None:
    history = MetricsHistory(capacity=5)
    for i in range(12):
        history.append(float(i), {"a": float(i)})
    window = history.window(100, now=11.0)
    assert len(history) == 5
    assert window.times == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert window.series == {"a": [7.0, 8.0, 9.0, 10.0, 11.0]}


def test_a_new_series_is_padded_and_a_missing_value_is_none() -> None:
    history = MetricsHistory(capacity=10)
    history.append(1.0, {"a": 1.0})
    history.append(2.0, {"a": 2.0, "b": 5.0})
    history.append(3.0, {"b": None})
    assert history.window(10, now=3.0).series == {"a": [1.0, 2.0, None], "b": [None, 5.0, None]}


def test_series_are_bounded_and_stale_ones_dropped() -> None:
    history = MetricsHistory(capacity=3, max_series=2)
    history.append(1.0, {"a": 1.0, "b": 1.0, "c": 1.0})
    assert set(history.window(10, now=1.0).series) == {"a", "b"}
    for t in (2.0, 3.0, 4.0):
        history.append(t, {"a": t})
    history.append(5.0, {"a": 5.0, "c": 5.0})  # "b" left the buffer: room for "c"
    assert set(history.window(10, now=5.0).series) == {"a", "c"}


def test_window_keeps_the_recent_samples_of_the_selected_series() -> None:
    history = MetricsHistory()
    for t in range(0, 100, 10):
        history.append(float(t), {"lag:g/t": 1.0, "records_per_s:p": 2.0})
    window = history.window(25, ["lag"], now=90.0)
    assert window.times == [70.0, 80.0, 90.0]
    assert list(window.series) == ["lag:g/t"]


def test_the_sampler_starts_with_a_baseline_then_appends_derived_values() -> None:
    totals = iter([0.0, 10.0, 30.0])
    clock = iter([0.0, 5.0, 10.0])

    def read(at: float) -> Snapshot:
        return Snapshot(at, {"records_per_s:p": next(totals)})

    history = MetricsHistory()
    sampler = HistorySampler(history, read, clock=lambda: next(clock))
    sampler.sample()
    assert len(history) == 0
    sampler.sample()
    sampler.sample()
    assert history.window(60, now=10.0).series == {"records_per_s:p": [2.0, 4.0]}


def test_the_sampler_thread_survives_a_failing_read_and_stops() -> None:
    calls: list[float] = []

    def read(at: float) -> Snapshot:
        calls.append(at)
        raise RuntimeError("registry unavailable")

    sampler = HistorySampler(MetricsHistory(interval=0.01), read)
    sampler.start()
    assert sampler.alive
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    assert len(calls) >= 3
    assert not sampler.alive
