"""Per-pipeline metrics on the shared ``METRICS`` registry (scraped at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from skybridge.core.observability import METRICS

RECORDS_IN = Counter(
    "skybridge_pipeline_records_in",
    "Records a pipeline consumed (including redeliveries).",
    ["pipeline"],
    registry=METRICS,
)
RECORDS_OUT = Counter(
    "skybridge_pipeline_records_out",
    "Sink effects a pipeline applied (skipped duplicates not counted).",
    ["pipeline", "sink"],
    registry=METRICS,
)
DEAD_LETTERS = Counter(
    "skybridge_pipeline_dead_letters",
    "Records a pipeline sent to its dead-letter topic.",
    ["pipeline", "error"],
    registry=METRICS,
)
CONSUMER_LAG = Gauge(
    "skybridge_pipeline_consumer_lag",
    "Records of a topic the pipeline's group has not committed yet.",
    ["pipeline", "topic"],
    registry=METRICS,
)
GROUP_LAG = Gauge(
    "skybridge_consumer_group_lag",
    "Records of a topic a consumer group has not committed yet, as its pipelines last saw.",
    ["group", "topic"],
    registry=METRICS,
)
PROCESSING_SECONDS = Histogram(
    "skybridge_pipeline_batch_seconds",
    "Time to process one batch: handler, sinks and commit.",
    ["pipeline"],
    registry=METRICS,
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
