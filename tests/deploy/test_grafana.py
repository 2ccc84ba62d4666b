"""The provisioned Grafana dashboard: every panel uses a provisioned data source, every
Prometheus query names metrics skybridge exports, and no credential is written in the files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import Histogram

import skybridge.apps.datasync.metrics
import skybridge.runtime.metrics
from skybridge.core.observability import METRICS

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "datasync.json").read_text())
SOURCES = yaml.safe_load(
    (GRAFANA / "provisioning" / "datasources" / "datasources.yaml").read_text()
)


def exported_names() -> set[str]:
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    for metric in METRICS.collect():
        names |= {metric.name, *(metric.name + s for s in suffixes.get(metric.type, ()))}
    return names


def test_cloudwatch_oci_monitoring_and_prometheus_are_provisioned() -> None:
    types = {s["type"] for s in SOURCES["datasources"]}
    assert types == {"cloudwatch", "oci-metrics-datasource", "prometheus"}


def test_every_panel_uses_a_provisioned_source() -> None:
    uids = {s["uid"]: s["type"] for s in SOURCES["datasources"]}
    for panel in DASHBOARD["panels"]:
        source = panel["datasource"]
        assert uids.get(source["uid"]) == source["type"], panel["title"]
        assert panel["targets"], panel["title"]


def test_prometheus_queries_name_metrics_skybridge_exports() -> None:
    exported = exported_names()
    queried = set()
    for panel in DASHBOARD["panels"]:
        for target in panel["targets"]:
            queried |= set(re.findall(r"\bskybridge_[a-z_]+", target.get("expr", "")))
    assert queried
    assert queried <= exported, queried - exported
    assert isinstance(skybridge.apps.datasync.metrics.CROSS_CLOUD_LATENCY, Histogram)
    assert "skybridge_datasync_cross_cloud_latency_seconds_bucket" in queried


def test_no_credentials_are_written_in_the_files() -> None:
    for source in SOURCES["datasources"]:
        for value in source.get("secureJsonData", {}).values():
            assert re.fullmatch(r"\$\{[A-Z_]+\}", value), value
    text = (GRAFANA / "provisioning" / "datasources" / "datasources.yaml").read_text()
    assert "BEGIN" not in text
    assert "password" not in text.lower()
