"""oci-compute://: OCI Compute on the skybridge OCI emulator passes the compute contract."""

from __future__ import annotations

from typing import Any

import pytest

from skybridge.backends import compute
from skybridge.backends.compute import ComputeFleet
from skybridge.core.errors import ConfigError, TransientError
from skybridge.testing.contracts.compute import ComputeContract, Launch
from skybridge.testing.oci import OciEmulator

pytestmark = pytest.mark.oci


def oci_fleet(emu: OciEmulator, **options: object) -> ComputeFleet:
    url = f"oci-compute://{emu.compartment_id}?endpoint={emu.endpoint}"
    return compute.connect(url, config=emu.sdk_config(), **options)


class TestOciFleet(ComputeContract):
    unknown_id = "ocid1.instance.oc1.us-ashburn-1.amaaaaaanosuchinstance"
    small_size = "VM.Standard.E4.Flex.1"
    large_size = "VM.Standard.E4.Flex.4"

    @pytest.fixture
    def fleet(self, oci_emulator: OciEmulator) -> ComputeFleet:
        return oci_fleet(oci_emulator)

    @pytest.fixture
    def launch(self, oci_emulator: OciEmulator) -> Launch:
        return lambda name, size, tags: (
            oci_emulator.launch_instance(name, size, freeform_tags=tags).id
        )


def test_defined_tags_read_and_write_as_namespace_dot_key(oci_emulator: OciEmulator) -> None:
    fleet = oci_fleet(oci_emulator)
    instance = oci_emulator.launch_instance(
        "defined", defined_tags={"Finance": {"CostCenter": "CC-101"}}
    )
    assert fleet.get(instance.id).tags["Finance.CostCenter"] == "CC-101"
    fleet.tag(instance.id, {"Finance.CostCenter": "CC-202", "cost_alerted": "2024-09-30"})
    stored = oci_emulator.instance(instance.id)
    assert stored.defined_tags == {"Finance": {"CostCenter": "CC-202"}}
    assert stored.freeform_tags == {"cost_alerted": "2024-09-30"}


def test_a_tag_another_writer_set_meanwhile_is_kept(
    oci_emulator: OciEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tags are read, merged and written back: without if-match, a tag written between the
    read and the write was lost."""
    fleet = oci_fleet(oci_emulator)
    instance = oci_emulator.launch_instance("raced", freeform_tags={"env": "dev"})
    client: Any = fleet._client  # type: ignore[attr-defined]
    write = client.update_instance
    raced: list[str] = []

    def another_writer_tags_first(instance_id: str, *args: Any, **kwargs: Any) -> Any:
        if not raced:  # between this writer's read and its write
            raced.append(instance_id)
            oci_fleet(oci_emulator).tag(instance_id, {"owner": "team-b"})
        return write(instance_id, *args, **kwargs)

    monkeypatch.setattr(client, "update_instance", another_writer_tags_first)
    fleet.tag(instance.id, {"cost_alerted": "2024-09-30"})
    assert raced == [instance.id]
    assert oci_emulator.instance(instance.id).freeform_tags == {
        "env": "dev",
        "owner": "team-b",
        "cost_alerted": "2024-09-30",
    }


def test_throttling_is_transient_and_nothing_changes(oci_emulator: OciEmulator) -> None:
    fleet = oci_fleet(oci_emulator)
    instance = oci_emulator.launch_instance("throttled")
    oci_emulator.faults.inject("InstanceAction", 429, times=1)
    with pytest.raises(TransientError):
        fleet.stop(instance.id)
    assert oci_emulator.instance(instance.id).state == "RUNNING"
    assert fleet.stop(instance.id).state == "stopped"


def test_a_wrong_key_is_refused_by_the_signature_check(oci_emulator: OciEmulator) -> None:
    url = f"oci-compute://{oci_emulator.compartment_id}?endpoint={oci_emulator.endpoint}"
    fleet = compute.connect(url, config=oci_emulator.sdk_config(wrong_key=True))
    from skybridge.core.errors import TerminalError

    with pytest.raises(TerminalError):
        fleet.instances()


def test_a_url_that_is_no_compartment_names_the_setting(oci_emulator: OciEmulator) -> None:
    with pytest.raises(ConfigError) as caught:
        compute.connect("oci-compute://not-an-ocid", config=oci_emulator.sdk_config())
    assert caught.value.setting == "backends.compute"
