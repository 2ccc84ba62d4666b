"""embedded://: the SQLite fleet passes the compute contract; waiting for a state is bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.backends import compute
from skybridge.backends.compute import ComputeFleet, Instance
from skybridge.core.clock import ManualClock
from skybridge.core.errors import Conflict, TransientError
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


def test_wait_for_returns_the_instance_in_the_state_or_gives_up_after_the_timeout(
    tmp_path: Path,
) -> None:
    fleet = compute.connect(f"embedded://{tmp_path}")
    clock = ManualClock()
    start = clock.now()

    def waiting(instance_id: str, timeout: float = 30.0) -> Instance:
        return fleet.wait_for(
            instance_id, {"stopped"}, timeout=timeout, poll=4.0, clock=clock, sleep=clock.advance
        )

    box = fleet.launch("box", "t3.large")
    with pytest.raises(TransientError, match=f"instance {box.id} is still running after 30 s"):
        waiting(box.id)
    assert clock.now() - start == 30.0  # looked every 4 s, and not past the deadline
    fleet.stop(box.id)
    assert waiting(box.id).state == "stopped"
    fleet.terminate(box.id)
    with pytest.raises(Conflict, match="terminated"):
        waiting(box.id, timeout=3600.0)
    assert clock.now() - start == 30.0  # a terminated instance is not waited for
