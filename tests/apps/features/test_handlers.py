"""The cloud entry points run the pipeline's code: a Lambda Kinesis batch with partial-failure
reporting and an OCI Functions Service Connector batch, both idempotent on redelivery."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.features import handlers
from skybridge.apps.features.ingest import dead_letters
from skybridge.apps.features.offline import read_log
from skybridge.apps.features.store import FeatureStore, open_store
from skybridge.core.errors import ConfigError, TransientError, ValidationError
from skybridge.testing.service import fresh_workdir

from .scenario import features_context

ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/UserEventsStream"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FeatureStore]:
    fresh_workdir(tmp_path, monkeypatch)
    with open_store(features_context(), model=False, streams=False) as opened:
        handlers.use_store(opened)
        yield opened
    handlers.use_store(None)


def kinesis_event(
    events: list[dict[str, Any]], first: int = 1000, arn: str = ARN
) -> dict[str, Any]:
    records = []
    for i, event in enumerate(events):
        records.append(
            {
                "eventSource": "aws:kinesis",
                "eventSourceARN": arn,
                "eventID": f"shardId-000000000001:{first + i}",
                "kinesis": {
                    "partitionKey": str(event.get("userId", "x")),
                    "sequenceNumber": str(first + i),
                    "data": base64.b64encode(json.dumps(event).encode()).decode(),
                    "approximateArrivalTimestamp": 1_700_000_000.0,
                },
            }
        )
    return {"Records": records}


def events(n: int) -> list[dict[str, Any]]:
    return [
        {"userId": f"u{i % 7}", "eventType": "view", "amount": 0, "timestamp": 1_700_000_000 + i}
        for i in range(n)
    ]


def oci_messages(items: list[dict[str, Any]], first: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "stream": "UserEventsStream",
            "partition": "0",
            "offset": first + i,
            "timestamp": 1_700_000_000_000,
            "key": base64.b64encode(e["userId"].encode()).decode(),
            "value": base64.b64encode(json.dumps(e).encode()).decode(),
        }
        for i, e in enumerate(items)
    ]


def snapshot(store: FeatureStore) -> list[dict[str, Any]]:
    vectors = store.get("realtime_features", [f"u{i}" for i in range(7)], at=1_700_000_400)
    return [v.plain() for v in vectors]


def test_lambda_applies_a_batch_once_even_when_delivered_twice(store: FeatureStore) -> None:
    batch = kinesis_event(events(150))
    assert handlers.lambda_handler(batch)["batchItemFailures"] == []
    once = snapshot(store)
    assert sum(v["events1h"] for v in once) == 150
    assert handlers.lambda_handler(batch)["batchItemFailures"] == []
    assert snapshot(store) == once
    assert len(read_log(store.objects, "realtime_features")) == 150  # one row per record


def test_lambda_reports_the_first_record_not_applied(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = kinesis_event(events(150))
    kv = store.online.kv
    real = kv.write_batch
    calls = {"n": 0}

    def flaky(writes: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the second chunk's documents
            raise TransientError("dynamodb throttled")
        return real(writes)

    monkeypatch.setattr(kv, "write_batch", flaky)
    answer = handlers.lambda_handler(batch)
    assert answer["batchItemFailures"] == [{"itemIdentifier": "1100"}]
    assert answer["applied"] == 100
    monkeypatch.setattr(kv, "write_batch", real)
    retried = {"Records": batch["Records"][100:]}  # Lambda retries from the reported record
    assert handlers.lambda_handler(retried)["batchItemFailures"] == []
    assert sum(v["events1h"] for v in snapshot(store)) == 150


def test_malformed_events_are_set_aside_not_retried(store: FeatureStore) -> None:
    bad = [{"userId": "u1", "eventType": "view"}, {"eventType": "view", "timestamp": 1}]
    batch = kinesis_event([*events(3), *bad, {"userId": "u2", "amount": "lots", "timestamp": 5}])
    answer = handlers.lambda_handler(batch)
    assert answer["batchItemFailures"] == []
    assert answer["applied"] == 3
    reasons = [letter["error"] for letter in dead_letters(store)]
    assert any("'timestamp' is missing" in r for r in reasons)
    assert any("'userId' (the entity key) is missing" in r for r in reasons)
    assert any("must be a number for feature 'amountSum1d'" in r for r in reasons)


def test_oci_functions_batch_and_failure(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = oci_messages(events(20))
    result = json.loads(handlers.oci_handler(None, json.dumps(messages).encode()))
    assert result["applied"] == 20
    assert sum(v["events1h"] for v in snapshot(store)) == 20

    def down(writes: Any) -> Any:
        raise TransientError("redis unreachable")

    monkeypatch.setattr(store.online.kv, "write_batch", down)
    with pytest.raises(TransientError, match="redis unreachable"):
        handlers.oci_handler(None, json.dumps(oci_messages(events(5), first=20)))


def test_records_from_a_stream_no_view_reads_are_refused_not_counted(store: FeatureStore) -> None:
    # A stream named otherwise than the view's topic: nothing is applied or set aside, and the
    # error says what to set, so the records stay on the stream until the settings are fixed.
    prod = ARN.replace("UserEventsStream", "user-events-prod")
    with pytest.raises(ConfigError, match="no feature view reads the stream 'user-events-prod'"):
        handlers.lambda_handler(kinesis_event(events(3), arn=prod))
    messages = [{**m, "stream": "other"} for m in oci_messages(events(3))]
    with pytest.raises(ConfigError, match=r"views read 'RealtimeEvents', 'UserEventsStream'"):
        handlers.oci_handler(None, json.dumps(messages))
    assert sum(v["events1h"] or 0 for v in snapshot(store)) == 0
    assert dead_letters(store) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{x", "the body is not JSON"),
        (b"\xff\xfe", "the body is not JSON"),
        (b"[1]", "not an OCI Streaming message: a JSON int"),
        (b'"text"', "expected a list of OCI Streaming messages"),
        (b'[{"stream": "UserEventsStream"}]', "not an OCI Streaming message: KeyError"),
    ],
)
def test_a_malformed_oci_body_is_named(store: FeatureStore, body: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        handlers.oci_handler(None, body)


def test_a_lambda_event_that_is_not_kinesis_is_named(store: FeatureStore) -> None:
    for event in (None, [], {"Records": "x"}):
        with pytest.raises(ValidationError, match="expected a Kinesis event with Records"):
            handlers.lambda_handler(event)  # type: ignore[arg-type]


def test_the_page_counts_log_files_without_listing_the_log(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log writer counts each new file (a redelivered batch writes the same file and is
    not counted again); the page reads the counters and lists nothing; a log older than the
    counters is listed once to start them, by a reader or a writer, whichever comes first."""
    from skybridge.apps.features.logstats import counted_stats, log_stats, stats_key
    from skybridge.apps.features.page import _overview

    for first in (1000, 2000, 1000, 3000):  # 1000 delivered twice
        assert handlers.lambda_handler(kinesis_event(events(30), first))["batchItemFailures"] == []
    prefix = store.config.offline_prefix
    listed = {v.name: log_stats(store.objects, v.name, prefix) for v in store.views}
    assert sum(s["files"] for s in listed.values()) == 3
    _overview(store)  # a view never written lists its (empty) log once, to start its counters
    with monkeypatch.context() as patched:
        patched.setattr(type(store.objects), "list", lambda *a, **k: pytest.fail("listed"))
        assert _overview(store)["log_files"] == 3
        for view, exact in listed.items():
            got = counted_stats(store.online.kv, store.objects, view, prefix)
            assert (got["files"], got["bytes"]) == (exact["files"], exact["bytes"])
            assert got["rows"] == (90 if exact["files"] else 0)
    view = next(name for name, s in listed.items() if s["files"])
    store.online.kv.delete(stats_key(view))  # a log written before the counters existed
    assert counted_stats(store.online.kv, store.objects, view, prefix)["files"] == 3
    handlers.lambda_handler(kinesis_event(events(5), 4000))
    assert counted_stats(store.online.kv, store.objects, view, prefix)["files"] == 4
    store.online.kv.delete(stats_key(view))  # after an upgrade a writer may count first
    handlers.lambda_handler(kinesis_event(events(5), 5000))
    started = counted_stats(store.online.kv, store.objects, view, prefix)
    assert (started["files"], started["rows"]) == (5, None)  # the whole log, rows unknown
