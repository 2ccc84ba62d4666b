"""The two shipped example pipelines, end to end, on each URL combination (only URLs change):
embedded (sqlite log, sqlite kv, local files), Kafka + Redis, Kinesis + DynamoDB + S3 (moto)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .scenario import run_example


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from skybridge.testing.service import fresh_workdir

    fresh_workdir(tmp_path, monkeypatch)
    monkeypatch.setenv("SKYBRIDGE__FEATURES__GROUP", f"features-{uuid.uuid4().hex[:6]}")
    return tmp_path


def test_embedded(workdir: Path) -> None:
    run_example()


@pytest.mark.kafka
@pytest.mark.redis
def test_kafka_and_redis(
    workdir: Path, kafka_server: Any, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "SKYBRIDGE__BACKENDS__STREAMS",
        f"{kafka_server.url}?session_timeout=6&heartbeat_interval=0.5",
    )
    monkeypatch.setenv(
        "SKYBRIDGE__BACKENDS__KV", f"{redis_server.url}?namespace=f{uuid.uuid4().hex[:6]}"
    )
    run_example(idle_exit=4.0)


@pytest.mark.moto
def test_kinesis_and_dynamodb(
    workdir: Path, moto_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:6]
    checkpoints = quote(f"sqlite:///{workdir}/checkpoints.db", safe="")
    endpoint = quote(moto_server.url, safe="")
    monkeypatch.setenv(
        "SKYBRIDGE__BACKENDS__STREAMS",
        f"kinesis://f{run}-?region=us-east-1&endpoint_url={endpoint}&checkpoints={checkpoints}"
        "&session_timeout=1.5&heartbeat_interval=0.1&poll_interval=0.05",
    )
    monkeypatch.setenv(
        "SKYBRIDGE__BACKENDS__KV",
        f"dynamodb://features-{run}?region=us-east-1&endpoint_url={endpoint}&create=true",
    )
    monkeypatch.setenv(
        "SKYBRIDGE__BACKENDS__OBJECTS",
        f"s3://features-{run}/log?region=us-east-1&endpoint_url={endpoint}&create=1",
    )
    run_example(idle_exit=3.0)
