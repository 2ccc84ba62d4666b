"""Metric data points of a build record: sizes and the cold-start proxy, per layer and target."""

from __future__ import annotations

from typing import Any

from skybridge.backends.functions import Metric


def layer_metrics(record: dict[str, Any]) -> list[Metric]:
    """``ZippedBytes``, ``UnzippedBytes``, ``Packages`` and, when measured, ``ImportSeconds``
    (source only) and ``ImportSecondsBytecode``, with dimensions Layer, Runtime, Architecture."""
    dims = {
        "Layer": str(record["name"]),
        "Runtime": str(record["runtime"]),
        "Architecture": str(record["architecture"]),
    }
    found = [
        Metric("ZippedBytes", float(record["zipped"]), "Bytes", dims),
        Metric("UnzippedBytes", float(record["unzipped"]), "Bytes", dims),
        Metric("Packages", float(len(record["packages"])), "Count", dims),
    ]
    timing = record.get("cold_start")
    if timing:
        found.append(Metric("ImportSeconds", float(timing["source_only_s"]), "Seconds", dims))
        found.append(
            Metric("ImportSecondsBytecode", float(timing["with_bytecode_s"]), "Seconds", dims)
        )
    return found
