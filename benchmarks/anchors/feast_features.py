"""Feast 0.67, the features anchor, run with the anchors' interpreter (``.venv-anchors``).

    feast_features.py pit INPUT.json OUTPUT.json       # get_historical_features
    feast_features.py online INPUT.json OUTPUT.json    # get_online_features timings + values

INPUT holds ``features`` (names), ``ttl`` (seconds), ``rows`` (``[entity, epoch seconds,
value...]``: the feature data), ``entities`` (``[entity, epoch seconds]``: the entity rows of a
training set) and, for ``online``, ``lookups`` (lists of entity keys) and ``calls``.
The repo is local and offline: file offline store, SQLite online store, a registry file.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd


def build_store(folder: Path, spec: dict[str, Any]) -> tuple[Any, list[str]]:
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
    from feast.types import Float64

    names = spec["features"]
    frame = pd.DataFrame(spec["rows"], columns=["userId", "event_timestamp", *names])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], unit="s", utc=True)
    frame.to_parquet(folder / "data.parquet")
    config = RepoConfig(
        project="bench",
        provider="local",
        registry=str(folder / "registry.db"),
        online_store=SqliteOnlineStoreConfig(path=str(folder / "online.db")),
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config)
    user = Entity(name="user", join_keys=["userId"], value_type=ValueType.STRING)
    source = FileSource(path=str(folder / "data.parquet"), timestamp_field="event_timestamp")
    view = FeatureView(
        name="stats",
        entities=[user],
        ttl=timedelta(seconds=spec["ttl"]),
        schema=[Field(name=n, dtype=Float64) for n in names],
        source=source,
        online=True,
    )
    store.apply([user, view])
    return store, [f"stats:{n}" for n in names]


def point_in_time(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store, refs = build_store(Path(tmp), spec)
        entities = pd.DataFrame(spec["entities"], columns=["userId", "event_timestamp"])
        entities["event_timestamp"] = pd.to_datetime(
            entities["event_timestamp"], unit="s", utc=True
        )
        started = time.perf_counter()
        frame = store.get_historical_features(entity_df=entities, features=refs).to_df()
        seconds = time.perf_counter() - started
    frame["event_timestamp"] = frame["event_timestamp"].astype("int64") // 10**9
    rows = json.loads(frame.to_json(orient="records"))
    return {"rows": rows, "seconds": seconds}


def online(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store, refs = build_store(Path(tmp), spec)
        end = max(r[1] for r in spec["rows"]) + 1
        store.materialize(
            pd.Timestamp(0, unit="s", tz="UTC"), pd.Timestamp(end, unit="s", tz="UTC")
        )
        timings: dict[str, list[float]] = {}
        values: dict[str, Any] = {}
        for lookup in spec["lookups"]:
            rows = [{"userId": key} for key in lookup]
            label = str(len(lookup))
            found = store.get_online_features(features=refs, entity_rows=rows).to_dict()
            values[label] = found
            times = []
            for _ in range(spec["calls"]):
                started = time.perf_counter()
                store.get_online_features(features=refs, entity_rows=rows).to_dict()
                times.append(time.perf_counter() - started)
            timings[label] = times
    return {"timings": timings, "values": values}


def main(argv: list[str]) -> int:
    mode, source, target = argv
    spec = json.loads(Path(source).read_text())
    result = point_in_time(spec) if mode == "pit" else online(spec)
    Path(target).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
