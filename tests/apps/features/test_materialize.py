"""``materialize --from-log`` rebuilds the online store from the offline log, with guards that
let the pipeline go on where the log ends without folding an event twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.progress import Progress

from skybridge.apps.features.online import view_prefix
from skybridge.apps.features.operations import rebuild_from_log
from skybridge.apps.features.store import open_store
from skybridge.apps.features.worker import build_pipeline
from skybridge.backends.streams import Message
from skybridge.testing.service import fresh_workdir

from .scenario import features_context


def _publish(ctx, start: int, count: int) -> None:  # type: ignore[no-untyped-def]
    with open_store(ctx, model=False) as store:
        assert store.streams is not None
        store.streams.create_topic("UserEventsStream", 1)
        events = [
            {
                "userId": f"u{i % 5}",
                "eventType": "view",
                "amount": 0,
                "timestamp": 1_700_000_000 + i,
            }
            for i in range(start, start + count)
        ]
        store.streams.produce(
            "UserEventsStream",
            [Message(json.dumps(e).encode(), e["userId"].encode()) for e in events],
        )


def _run(ctx) -> None:  # type: ignore[no-untyped-def]
    pipeline = build_pipeline(ctx)
    try:
        pipeline.run(idle_exit=0.5)
    finally:
        pipeline.close()


def _events(ctx) -> list[int]:  # type: ignore[no-untyped-def]
    with open_store(ctx, model=False, streams=False) as store:
        vectors = store.get("realtime_features", [f"u{i}" for i in range(5)], at=1_700_000_100)
    return [v.values["events1h"].value for v in vectors]


def test_rebuild_from_the_log_then_the_pipeline_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_workdir(tmp_path, monkeypatch)
    ctx = features_context()
    _publish(ctx, 0, 40)
    _run(ctx)
    before = _events(ctx)
    assert sum(before) == 40
    with open_store(ctx, model=False, streams=False) as store:  # lose the online store
        store.online.kv.delete_many(store.online.kv.keys(view_prefix("realtime_features")))
    assert _events(ctx) == [None] * 5
    with Progress(disable=True) as progress:
        report = rebuild_from_log(ctx, progress)
    assert report["entities"]["realtime_features"] == 5
    assert _events(ctx) == before
    _publish(ctx, 40, 10)
    monkeypatch.setenv("SKYBRIDGE__FEATURES__GROUP", "a-new-group")  # reads all 50 again
    again = features_context()
    _run(again)  # the rebuilt guards skip the first 40: only the 10 new ones are folded
    assert sum(_events(again)) == 50
