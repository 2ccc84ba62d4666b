"""The embedded log refuses an absurd partition count up front, from any caller."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.backends.streams import connect
from skybridge.backends.streams.base import MAX_PARTITIONS
from skybridge.core.errors import ValidationError


# (Not 99_999_999_999: without the bound that runs the machine out of memory.)
@pytest.mark.parametrize("partitions", [MAX_PARTITIONS + 1, 10**20])
def test_create_topic_refuses_more_than_the_maximum(tmp_path: Path, partitions: int) -> None:
    with connect(f"sqlite:///{tmp_path}/log.db") as log:
        with pytest.raises(ValidationError, match="at most 10,000 partitions"):
            log.create_topic("t", partitions)
        assert log.topics() == []


def test_create_topic_takes_the_maximum(tmp_path: Path) -> None:
    with connect(f"sqlite:///{tmp_path}/log.db") as log:
        assert log.create_topic("t", MAX_PARTITIONS).partitions == MAX_PARTITIONS
