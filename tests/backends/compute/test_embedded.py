"""embedded://: the SQLite fleet passes the compute contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.backends import compute
from skybridge.backends.compute import ComputeFleet
from skybridge.testing.contracts.compute import ComputeContract, Launch


class TestEmbeddedFleet(ComputeContract):
    unknown_id = "emb-000000000000"

    @pytest.fixture
    def fleet(self, tmp_path: Path) -> ComputeFleet:
        return compute.connect(f"embedded://{tmp_path}/fleet")

    @pytest.fixture
    def launch(self, fleet: ComputeFleet) -> Launch:
        return lambda name, size, tags: fleet.launch(name, size, tags, utilisation=3.0).id


def test_utilisation_is_what_the_instance_was_launched_with(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    fleet = compute.connect(f"embedded://{tmp_path}")
    busy = fleet.launch("busy", "t3.large", utilisation=80.0)
    unknown = fleet.launch("new", "t3.large")
    assert fleet.utilisation(busy.id, datetime.now(UTC)) == 80.0
    assert fleet.utilisation(unknown.id, datetime.now(UTC)) is None
