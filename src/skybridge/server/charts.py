"""The charts of skybridge's own pages (apps choose theirs with the kit's ``Chart``)."""

from __future__ import annotations

from skybridge.apps.kit.web import Chart

#: Overview: the whole service.
OVERVIEW_CHARTS = (
    Chart(
        "Throughput",
        ["records_per_s", "http_requests_per_s"],
        unit="per second",
        name="throughput",
    ),
    Chart("Latency", ["http_p50_ms", "http_p95_ms", "batch_p95_ms"], name="latency"),
    Chart("Consumer lag", ["lag"], name="lag"),
)
#: Streams: what the pipelines in this service consume, and how far behind each group is.
STREAMS_CHARTS = (
    Chart("Consumer lag by group and topic", ["lag"], name="lag"),
    Chart("Throughput", ["records_per_s"], name="throughput"),
)
