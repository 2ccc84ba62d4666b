"""Point-in-time correctness against the anchor: a training set built by ours equals Feast's
``get_historical_features`` on the same entity rows, timestamps and feature data.

Feast runs as a subprocess in a venv of its own (its pins conflict with ours): ``.venv-anchors``
when ``make bench`` has built it, else ``.venv-feast``, built on first use (see
:mod:`.feast_env`), so the comparison runs in ``make test``. Where the TTL semantics differ,
they differ on purpose:

* Feast's file offline store *drops* an entity row whose newest feature row is older than
  the view's ttl, or that precedes the entity's first row (anchor-libraries-facts.md); ours
  keeps every row and returns its features as missing with the reason (``stale: ...`` or
  ``unknown entity``), so a training set never silently loses labelled rows.
* Both count a value exactly ``ttl`` old as fresh (``as_of - ttl <= event time``).

Every row of the feature data carries every feature (Feast joins whole rows: a null in the
newest row would hide an older value, while ours keeps the latest value of each feature).
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.features.store import open_store
from skybridge.apps.features.worker import build_pipeline
from skybridge.backends.streams import Message
from skybridge.testing.service import fresh_workdir

from .feast_env import feast_python
from .scenario import features_context

ROOT = Path(__file__).parents[3]
SCRIPT = ROOT / "benchmarks" / "anchors" / "feast_features.py"
NAMES = ["f0", "f1", "f2"]
TTL = 3600
BASE = 1_700_000_000

pytestmark = pytest.mark.slow

DEFINITIONS = f"""
views:
  - name: stats
    entity: userId
    topic: stats
    ttl: {TTL}
    features:
""" + "".join(f"      - {{name: {n}, agg: last, field: {n}}}\n" for n in NAMES)


def feature_data(rng: random.Random) -> list[list[Any]]:
    rows = []
    for user in range(25):
        for _ in range(rng.randint(1, 6)):
            values = [round(rng.uniform(-100, 100), 3) for _ in NAMES]
            rows.append([f"u{user}", BASE + rng.randint(0, 20_000), *values])
    return rows


def entity_rows(rng: random.Random, rows: list[list[Any]]) -> list[list[Any]]:
    wanted: set[tuple[str, int]] = set()
    for user in range(28):  # u25..u27 have no feature data
        for _ in range(4):
            wanted.add((f"u{user}", BASE + rng.randint(-2_000, 26_000)))
    for row in rows[::5]:  # exactly at a row's time, and exactly ttl later
        wanted |= {(row[0], row[1]), (row[0], row[1] + TTL)}
    return [list(item) for item in sorted(wanted)]


@pytest.fixture(scope="module")
def anchor() -> Path:
    """The interpreter with Feast (building ``.venv-feast`` the first time)."""
    return feast_python()


def run_feast(
    anchor: Path, spec: dict[str, Any], tmp_path: Path
) -> dict[tuple[str, int], dict[str, Any]]:
    source, target = tmp_path / "in.json", tmp_path / "out.json"
    source.write_text(json.dumps(spec))
    subprocess.run([anchor, SCRIPT, "pit", source, target], check=True, timeout=600)
    rows = json.loads(target.read_text())["rows"]
    return {(r["userId"], int(r["event_timestamp"])): r for r in rows}


def run_ours(
    rows: list[list[Any]], entities: list[list[Any]], tmp_path: Path
) -> list[dict[str, Any]]:
    definitions = tmp_path / "stats.yaml"
    definitions.write_text(DEFINITIONS)
    ctx = features_context()
    with open_store(ctx, model=False) as store:
        assert store.streams is not None
        store.streams.create_topic("stats", 1)
        events = [
            {"userId": r[0], "timestamp": r[1], **dict(zip(NAMES, r[2:], strict=True))}
            for r in rows
        ]
        random.Random(3).shuffle(events)  # arrival order is not event-time order
        store.streams.produce(
            "stats", [Message(json.dumps(e).encode(), e["userId"].encode()) for e in events]
        )
    pipeline = build_pipeline(ctx)
    try:
        pipeline.run(idle_exit=1.0)
    finally:
        pipeline.close()
    with open_store(ctx, model=False, streams=False) as store:
        asked = [{"userId": user, "t": at} for user, at in entities]
        result = store.training_set("stats", asked, as_of="t")
    return [row | {"_missing": gone} for row, gone in zip(result.rows, result.missing, strict=True)]


@pytest.mark.timeout(1500)  # the first run builds .venv-feast
def test_training_sets_equal_feast_get_historical_features(
    anchor: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_workdir(tmp_path, monkeypatch)
    monkeypatch.setenv("SKYBRIDGE__FEATURES__DEFINITIONS", str(tmp_path / "stats.yaml"))
    rng = random.Random(int(time.time()) // 86400)  # a new data set every day
    rows = feature_data(rng)
    entities = entity_rows(rng, rows)
    spec = {"features": NAMES, "ttl": TTL, "rows": rows, "entities": entities}
    feast = run_feast(anchor, spec, tmp_path)
    ours = run_ours(rows, entities, tmp_path)
    assert len(ours) == len(entities)
    compared = dropped = 0
    for row in ours:
        key = (row["userId"], int(row["t"]))
        theirs = feast.get(key)
        if theirs is None:  # Feast dropped the row: ours says why it has nothing
            dropped += 1
            reasons = set(row["_missing"].values())
            assert all(row[n] is None for n in NAMES), (key, row)
            assert all(r.startswith(("stale", "unknown entity")) for r in reasons), (key, reasons)
            continue
        compared += 1
        assert [row[n] for n in NAMES] == [theirs[n] for n in NAMES], (key, row, theirs)
    assert compared > 50
    assert dropped > 0  # the data set has rows past the ttl and before any feature row
