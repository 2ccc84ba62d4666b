"""Publish, grants, prune and usage on the moto server's Lambda and on the embedded platform:
prune never deletes a version that a function, or a published function version, still uses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybridge.apps.layers.lifecycle import grants_for, prune, publish, usage, with_layer
from skybridge.backends import functions
from skybridge.backends.functions import FunctionPlatform
from skybridge.core.errors import ValidationError
from skybridge.testing.contracts.functions import tiny_zip
from skybridge.testing.lambdas import moto_lambda_url
from skybridge.testing.servers import RunningServer


@pytest.fixture(params=["embedded", pytest.param("moto", marks=pytest.mark.moto)])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FunctionPlatform]:
    if request.param == "moto":
        server: RunningServer = request.getfixturevalue("moto_server")
        url = moto_lambda_url(server)
    else:
        url = f"embedded://{tmp_path}/fx"
    with functions.connect(url) as found:
        yield found


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _publish(platform: FunctionPlatform, name: str, text: str) -> str:
    content = tiny_zip(text)
    return publish(
        platform, name, content, text, runtimes=["python3.12"], architectures=["arm64"]
    ).layer.arn


def test_publish_is_idempotent_by_digest_and_grants_every_version(
    platform: FunctionPlatform,
) -> None:
    name = _name("deps")
    grants = grants_for(["210987654321"], ["o-abc123def4"])
    first = publish(
        platform,
        name,
        tiny_zip("a = 1\n"),
        "d1",
        runtimes=["python3.12"],
        architectures=["arm64"],
        grants=grants,
    )
    again = publish(
        platform,
        name,
        tiny_zip("a = 1\n"),
        "d1",
        runtimes=["python3.12"],
        architectures=["arm64"],
        grants=grants,
    )
    second = publish(
        platform,
        name,
        tiny_zip("a = 2\n"),
        "d2",
        runtimes=["python3.12"],
        architectures=["arm64"],
        grants=grants,
    )
    assert (first.new, again.new, second.new) == (True, False, True)
    assert again.layer.version == 1
    assert second.layer.version == 2
    expected = ("skybridge-account-210987654321", "skybridge-org-o-abc123def4")
    assert first.grants == second.grants == expected
    assert {g.statement_id for g in platform.layer_grants(name, 2)} == set(expected)


def test_prune_keeps_the_newest_and_every_version_in_use(platform: FunctionPlatform) -> None:
    name, fn = _name("deps"), _name("orders")
    arns = [_publish(platform, name, f"v = {i}\n") for i in range(1, 6)]
    platform.create_function(fn, runtime="python3.12", code=tiny_zip(), layers=[arns[0]])
    platform.publish_function_version(fn, "uses v1")  # an alias could route here
    platform.set_function_layers(fn, [arns[2]])  # $LATEST uses v3
    plan = prune(platform, name, keep=1, dry_run=True)
    assert plan.deleted == [4, 2]
    assert [v.version for v in platform.list_layer_versions(name)] == [5, 4, 3, 2, 1]
    done = prune(platform, name, keep=1, dry_run=False)
    assert done.deleted == [4, 2]
    assert [v.version for v in platform.list_layer_versions(name)] == [5, 3, 1]
    reasons = {s.version: s.reason for s in done.steps}
    assert reasons[1] == f"in use by {fn}:1"
    assert reasons[3] == f"in use by {fn}:$LATEST"
    with pytest.raises(ValidationError, match="keep"):
        prune(platform, name, keep=0)


def test_usage_report_names_users_and_laggards(platform: FunctionPlatform) -> None:
    name, fn = _name("deps"), _name("invoices")
    old = _publish(platform, name, "v = 1\n")
    _publish(platform, name, "v = 2\n")
    platform.create_function(fn, runtime="python3.12", code=tiny_zip(), layers=[old])
    rows = {r["version"]: r for r in usage(platform, [name])}
    assert rows[1]["users"] == [f"{fn}:$LATEST"]
    assert not rows[1]["newest"]
    assert rows[2]["users"] == []
    assert rows[2]["newest"]


def test_with_layer_replaces_only_the_same_layer() -> None:
    base = "arn:aws:lambda:us-east-1:123456789012:layer"
    current = [f"{base}:deps:1", f"{base}:other:4"]
    assert with_layer(current, f"{base}:deps:2") == [f"{base}:deps:2", f"{base}:other:4"]
    assert with_layer(current, f"{base}:new:1") == [*current, f"{base}:new:1"]
