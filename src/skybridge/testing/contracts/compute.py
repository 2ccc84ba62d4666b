"""The compute contract: every :class:`~skybridge.backends.compute.ComputeFleet` behaves alike.

A backend's test file subclasses :class:`ComputeContract` and gives three fixtures::

    class TestEc2(ComputeContract):
        @pytest.fixture
        def fleet(self, moto_server): return compute.connect(f"aws-ec2://us-east-1?endpoint_url={moto_server.url}")

        @pytest.fixture
        def launch(self, fleet): ...   # (name, size, tags) -> id of a new running instance

        unknown_id = "i-0123456789abcdef0"

Capabilities the fleet does not declare are checked to fail with a ``ValidationError``, never a
surprise ``NotImplementedError``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from skybridge.backends.compute import ComputeFleet
from skybridge.core.errors import NotFound, ValidationError

Launch = Callable[[str, str, dict[str, str]], str]


class ComputeContract:
    """Subclass with ``fleet`` and ``launch`` fixtures and ``unknown_id``."""

    unknown_id: ClassVar[str]
    small_size: ClassVar[str] = "t3.micro"
    large_size: ClassVar[str] = "t3.large"

    def _name(self) -> str:
        return f"test-{uuid.uuid4().hex[:8]}"

    def test_a_launched_instance_is_listed_with_its_tags_and_size(
        self, fleet: ComputeFleet, launch: Launch
    ) -> None:
        name = self._name()
        instance_id = launch(name, self.large_size, {"environment": "dev", "cost_center": "CC-101"})
        found = {i.id: i for i in fleet.instances()}
        assert instance_id in found
        instance = found[instance_id]
        assert (instance.name, instance.state, instance.size) == (name, "running", self.large_size)
        assert instance.tags["environment"] == "dev"
        assert instance.tags["cost_center"] == "CC-101"
        assert fleet.get(instance_id) == instance

    def test_instances_filter_by_state_and_tags(self, fleet: ComputeFleet, launch: Launch) -> None:
        marker = uuid.uuid4().hex[:8]
        first = launch(self._name(), self.small_size, {"batch": marker, "environment": "dev"})
        second = launch(self._name(), self.small_size, {"batch": marker, "environment": "prod"})
        fleet.stop(second)
        tagged = {i.id for i in fleet.instances(tags={"batch": marker})}
        assert tagged == {first, second}
        running = {i.id for i in fleet.instances(states={"running"}, tags={"batch": marker})}
        assert running == {first}
        assert {i.id for i in fleet.instances(tags={"batch": marker, "environment": "prod"})} == {
            second
        }

    def test_stop_and_start_are_idempotent(self, fleet: ComputeFleet, launch: Launch) -> None:
        instance_id = launch(self._name(), self.small_size, {})
        assert fleet.stop(instance_id).state in {"stopped", "stopping"}
        assert fleet.stop(instance_id).state in {"stopped", "stopping"}
        assert fleet.get(instance_id).state == "stopped"
        assert fleet.start(instance_id).state in {"running", "pending"}
        assert fleet.start(instance_id).state in {"running", "pending"}

    def test_tag_adds_and_overwrites_and_keeps_the_others(
        self, fleet: ComputeFleet, launch: Launch
    ) -> None:
        instance_id = launch(self._name(), self.small_size, {"environment": "dev", "owner": "ada"})
        tagged = fleet.tag(instance_id, {"cost_alerted": "2024-09-30", "owner": "grace"})
        assert tagged.tags["cost_alerted"] == "2024-09-30"
        assert tagged.tags["owner"] == "grace"
        assert tagged.tags["environment"] == "dev"
        assert fleet.get(instance_id).tags == tagged.tags

    @pytest.mark.parametrize("tags", [{"": "x"}, {"k" * 129: "x"}, {"key": "v" * 257}])
    def test_bad_tags_are_refused_before_any_call(
        self, fleet: ComputeFleet, launch: Launch, tags: dict[str, str]
    ) -> None:
        instance_id = launch(self._name(), self.small_size, {"environment": "dev"})
        with pytest.raises(ValidationError):
            fleet.tag(instance_id, tags)
        assert fleet.get(instance_id).tags.get("environment") == "dev"

    def test_an_unknown_instance_is_not_found(self, fleet: ComputeFleet) -> None:
        for call in (fleet.get, fleet.stop, fleet.start, lambda i: fleet.tag(i, {"a": "b"})):
            with pytest.raises(NotFound):
                call(self.unknown_id)

    def test_resize_needs_a_stopped_instance_or_the_capability(
        self, fleet: ComputeFleet, launch: Launch
    ) -> None:
        instance_id = launch(self._name(), self.large_size, {})
        if not fleet.supports("resize"):
            with pytest.raises(ValidationError):
                fleet.resize(instance_id, self.small_size)
            return
        from skybridge.core.errors import Conflict

        with pytest.raises(Conflict):
            fleet.resize(instance_id, self.small_size)
        fleet.stop(instance_id)
        assert fleet.resize(instance_id, self.small_size).size == self.small_size

    def test_terminate(self, fleet: ComputeFleet, launch: Launch) -> None:
        instance_id = launch(self._name(), self.small_size, {})
        if not fleet.supports("terminate"):
            with pytest.raises(ValidationError):
                fleet.terminate(instance_id)
            return
        assert fleet.terminate(instance_id).state in {"terminated", "stopping"}
        assert instance_id not in {i.id for i in fleet.instances(states={"running"})}

    def test_utilisation_is_a_percentage_or_unknown(
        self, fleet: ComputeFleet, launch: Launch
    ) -> None:
        instance_id = launch(self._name(), self.small_size, {})
        since = datetime.now(UTC) - timedelta(days=7)
        if not fleet.supports("utilisation"):
            with pytest.raises(ValidationError):
                fleet.utilisation(instance_id, since)
            return
        value = fleet.utilisation(instance_id, since)
        assert value is None or 0.0 <= value <= 100.0
