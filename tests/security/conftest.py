"""Black-box fixtures: ``skybridge up`` in a subprocess with the test-only ``slowpoke`` app.

``slowpoke/`` is an app installed through a fake entry point: ``GET /api/slowpoke/sleep`` holds
a worker thread like a long database statement, ``POST /api/slowpoke/upload`` takes 8 MiB.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.process import ServiceProcess, ServiceStarter, service_process

SLOWPOKE = Path(__file__).parent / "slowpoke"
SLOWPOKE_ENTRY_POINT = {"skybridge.apps": {"slowpoke": "skybridge_slowpoke.manifest:APP"}}


def start_with_slowpoke(workdir: Path, *args: str, **options: Any) -> Any:
    """:func:`service_process` with the slowpoke app installed."""
    return service_process(
        workdir, *args, pythonpath=[SLOWPOKE], entry_points=SLOWPOKE_ENTRY_POINT, **options
    )


@pytest.fixture(scope="session")
def start_service() -> ServiceStarter:
    """Start ``skybridge up ARGS`` (with slowpoke) in a folder: a context manager."""
    return start_with_slowpoke


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The service with default limits (shared by one test module)."""
    with start_with_slowpoke(tmp_path_factory.mktemp("service")) as running:
        yield running
