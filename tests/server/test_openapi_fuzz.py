"""Property-based API testing from the OpenAPI schema (schemathesis), every installed app on
its demo data, once with an admin token and once with a ``read`` token.

Every operation must answer without a 5xx, every response must match the declared schema and
status codes, every 4xx must be JSON with an ``error`` and a ``message``, and the read token
must never get a 2xx from a route whose scope needs more.

Runs in the serial pass of ``make test`` (see ``pytestmark``). The schema is loaded eagerly at
import (``schemathesis.pytest.from_fixture`` relies on a pytest internal that pytest 9
removed), so the app lives in its own temporary directory.
"""

from __future__ import annotations

import atexit
import os
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

from skybridge.apps.kit.manifest import discover_apps
from skybridge.apps.kit.settings import load_settings
from skybridge.commands.up import seed_demo
from skybridge.server import create_app

#: Under pytest-xdist this module is only collected, never run (see ``_cleanup``).
IN_XDIST_WORKER = "PYTEST_XDIST_WORKER" in os.environ
DATA = Path(tempfile.mkdtemp(prefix="skybridge-fuzz-"))
atexit.register(shutil.rmtree, DATA, True)  # also where the module fixture never runs
# No rate limit: the fuzzer sends hundreds of requests a second with one token.
SETTINGS = load_settings(data_dir=DATA, server={"token_rate_per_second": 0})
if not IN_XDIST_WORKER:  # the schema needs the app, not its data: no demo to seed there
    seed_demo(SETTINGS, discover_apps())
APP = create_app(SETTINGS)
TOKENS = {
    grant: APP.state.skybridge.tokens.create(f"fuzz-{grant}", [grant])[1].reveal()
    for grant in ("admin", "read")
}
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# serial: under pytest-xdist, schemathesis' per-operation items share one node id and only the
# first operation (GET /healthz) would run; scripts/run-tests runs this module in one process.
pytestmark = pytest.mark.serial


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    if IN_XDIST_WORKER:
        pytest.fail("run this module in one process (pytest -p no:xdist): see pytestmark")
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


def nothing_beyond_a_read_token(ctx: Any, response: Any, case: Any) -> bool:
    scope = case.operation.definition.raw.get("x-required-scope")
    if scope and not APP.state.skybridge.scopes.allows(frozenset({"read"}), scope):
        assert not 200 <= response.status_code < 300, f"a read token got a 2xx from {scope}"
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    error_bodies_explain_themselves,
]


@schema.parametrize()
@settings(
    max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
def test_api_conforms_to_its_schema_with_an_admin_token(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKENS['admin']}"}, checks=CHECKS)


@schema.parametrize()
@settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
def test_a_read_token_gets_no_more_than_reading(case: Any) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKENS['read']}"},
        checks=[*CHECKS, nothing_beyond_a_read_token],
    )
