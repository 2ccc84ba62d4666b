"""Property-based API testing from the OpenAPI schema (schemathesis), with a valid token.

Every operation must answer without a 5xx, every response must match the declared schema and
status codes, and every 4xx must be JSON with an ``error`` and a ``message``.

The schema is loaded eagerly at import (``schemathesis.pytest.from_fixture`` relies on a pytest
internal that pytest 9 removed), so the app lives in its own temporary directory.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from skybridge.core.config import BackendsConfig, Settings
from skybridge.server import create_app

DATA = Path(tempfile.mkdtemp(prefix="skybridge-fuzz-"))
APP = create_app(
    Settings(
        data_dir=DATA,
        backends=BackendsConfig(
            kv=f"sqlite:///{DATA}/kv.db",
            objects=f"file://{DATA}/objects",
            secrets=f"local://{DATA}/secrets",
            notify="console://",
            sql=f"sqlite:///{DATA}/skybridge.db",
        ),
    ),
    apps=[],
)
TOKEN = APP.state.skybridge.tokens.create("fuzzer")[1].reveal()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    APP.state.skybridge.close()
    shutil.rmtree(DATA, ignore_errors=True)


def error_bodies_explain_themselves(ctx: Any, response: Any, case: Any) -> bool:
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body, dict), f"{response.status_code} body is not a JSON object"
        assert body.get("error"), f"{response.status_code} without an error type"
        assert body.get("message"), f"{response.status_code} without a message"
    return True


@schema.parametrize()
@settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
def test_api_conforms_to_its_schema(case: Any) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            response_schema_conformance,
            error_bodies_explain_themselves,
        ],
    )
