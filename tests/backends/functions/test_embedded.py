"""embedded://: the function platform in a folder passes the contract."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from skybridge.backends import functions
from skybridge.backends.functions import FunctionPlatform
from skybridge.backends.functions.embedded import EmbeddedFunctions
from skybridge.core.errors import ValidationError
from skybridge.testing.contracts.functions import (
    AlarmFactory,
    FunctionPlatformContract,
    tiny_zip,
    unique,
)


@pytest.fixture
def platform(tmp_path: Path) -> FunctionPlatform:
    return functions.connect(f"embedded://{tmp_path}/functions")


@pytest.fixture
def alarm(platform: FunctionPlatform) -> AlarmFactory:
    def make() -> str:
        name = unique("errors")
        platform.set_alarm_state(name, "OK", "created by the test")
        return name

    return make


class TestEmbeddedContract(FunctionPlatformContract):
    pass


def test_state_survives_reopening(tmp_path: Path) -> None:
    url = f"embedded://{tmp_path}/fx"
    with functions.connect(url) as platform:
        layer = platform.publish_layer_version("deps", tiny_zip())
    with functions.connect(url) as again:
        assert isinstance(again, EmbeddedFunctions)
        assert [v.arn for v in again.list_layer_versions("deps")] == [layer.arn]
        assert again.layer_content("deps", 1) == tiny_zip()


def test_more_than_five_layers_is_refused(platform: FunctionPlatform) -> None:
    arns = [platform.publish_layer_version(unique("l"), tiny_zip()).arn for _ in range(6)]
    with pytest.raises(ValidationError, match="at most 5"):
        platform.create_function("fn", runtime="python3.12", code=tiny_zip(), layers=arns)


def test_processes_publishing_one_layer_at_once_get_versions_of_their_own(tmp_path: Path) -> None:
    """Each publish reads the next version number and writes its zip holding the file's write
    lock: two platforms on one folder never take the same number (the loser failed with a
    raw IntegrityError, and the zip kept for the winner's row could be the loser's bytes)."""
    platforms = [EmbeddedFunctions(tmp_path / "platform") for _ in range(2)]
    start = threading.Barrier(2)

    def publish(which: int) -> list[int]:
        start.wait()
        return [
            platforms[which].publish_layer_version("deps", b"zip %d-%d" % (which, i)).version
            for i in range(25)
        ]

    with ThreadPoolExecutor(2) as pool:
        versions = [v for got in pool.map(publish, range(2)) for v in got]
    assert sorted(versions) == list(range(1, 51))
    for layer in platforms[0].list_layer_versions("deps"):
        content = platforms[0].layer_content("deps", layer.version)
        assert hashlib.sha256(content).hexdigest() == layer.code_sha256
    for platform in platforms:
        platform.close()
