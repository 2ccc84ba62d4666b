"""Remediation on EC2 (moto) and OCI Compute (the emulator): a dry run touches nothing;
approving acts and writes one audit record per action; idle instances are resized, waiting for
an asynchronous stop, and a resize that fails leaves its instance running."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from skybridge.apps.costs.config import RemediationConfig, TagRule
from skybridge.apps.costs.ledger import Ledger
from skybridge.apps.costs.remediation import Outcome, StopWait, apply, offhours_reason, plan
from skybridge.backends import compute
from skybridge.backends.compute import ComputeFleet, Instance
from skybridge.backends.compute.embedded import EmbeddedFleet
from skybridge.core.clock import ManualClock
from skybridge.core.errors import SkybridgeError, TerminalError, TransientError
from skybridge.testing.oci import OciEmulator
from skybridge.testing.servers import RunningServer

POLICY = [TagRule(key="cost_center", allowed=["CC-101", "CC-202", "CC-303"])]
SATURDAY_NIGHT = datetime(2024, 9, 28, 23, 0, tzinfo=UTC)
TUESDAY_NOON = datetime(2024, 9, 24, 12, 0, tzinfo=UTC)
FLEET = {
    "web-prod": ("t3.large", {"environment": "prod", "cost_center": "CC-101"}),
    "ci-dev": ("t3.large", {"environment": "dev", "cost_center": "CC-202"}),
    "scratch": ("t3.small", {"environment": "test"}),
}


def run_ec2(region: str, endpoint: str) -> dict[str, str]:
    client: Any = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
    image = client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = {}
    for name, (size, tags) in FLEET.items():
        pairs = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in tags.items()]
        answer = client.run_instances(
            ImageId=image, InstanceType=size, MinCount=1, MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": pairs}],
        )  # fmt: skip
        ids[name] = answer["Instances"][0]["InstanceId"]
    return ids


def snapshot(fleet: ComputeFleet) -> dict[str, tuple[str, str, dict[str, str]]]:
    return {i.id: (i.state, i.size, dict(i.tags)) for i in fleet.instances()}


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (datetime(2024, 9, 24, 19, 0, tzinfo=UTC), True),
        (datetime(2024, 9, 24, 6, 59, tzinfo=UTC), True),
        (datetime(2024, 9, 24, 7, 0, tzinfo=UTC), False),
        (TUESDAY_NOON, False),
        (datetime(2024, 9, 28, 12, 0, tzinfo=UTC), True),  # Saturday
    ],
)
def test_the_offhours_window_wraps_midnight_and_covers_weekends(
    now: datetime, inside: bool
) -> None:
    assert (offhours_reason(now, RemediationConfig()) is not None) is inside


def test_the_window_is_read_in_the_configured_time_zone() -> None:
    config = RemediationConfig(timezone="America/New_York", weekends_off=False)
    assert offhours_reason(datetime(2024, 9, 24, 22, 0, tzinfo=UTC), config) is None  # 18:00
    assert offhours_reason(datetime(2024, 9, 24, 23, 30, tzinfo=UTC), config) is not None


def test_an_off_hours_stop_says_whether_the_weekend_or_the_night_called_for_it() -> None:
    config = RemediationConfig()
    sunday_evening = datetime(2024, 9, 22, 18, 0, tzinfo=UTC)
    assert offhours_reason(sunday_evening, config) == "weekend (Sunday in UTC)"
    tuesday_night = datetime(2024, 9, 24, 22, 0, tzinfo=UTC)
    assert offhours_reason(tuesday_night, config) == f"off hours ({config.offhours} UTC)"
    assert offhours_reason(datetime(2024, 9, 24, 12, 0, tzinfo=UTC), config) is None


def check_dry_run_then_approve(fleet: ComputeFleet, ids: dict[str, str], ledger: Ledger) -> None:
    before = snapshot(fleet)
    config = RemediationConfig(policies=["off-hours", "tag-noncompliant"])
    planned = plan({"cloud": fleet}, config, POLICY, SATURDAY_NIGHT)
    wanted = {(a.name, a.action) for a in planned.actions}
    assert wanted == {("ci-dev", "stop"), ("scratch", "stop"), ("scratch", "tag")}
    dry = apply(planned, {"cloud": fleet}, ledger, approve=False, actor="test")
    assert {o.outcome for o in dry} == {"dry-run"}
    assert snapshot(fleet) == before
    assert ledger.audit_log() == []

    done = apply(planned, {"cloud": fleet}, ledger, approve=True, actor="ada")
    assert {o.outcome for o in done} == {"done"}
    after = snapshot(fleet)
    assert after[ids["ci-dev"]][0] == "stopped"
    assert after[ids["scratch"]][0] == "stopped"
    assert after[ids["web-prod"]] == before[ids["web-prod"]]
    assert after[ids["scratch"]][2]["cost_alerted"] == "2024-09-28"
    records = ledger.audit_log()
    assert len(records) == 3
    assert {(r["actor"], r["target"], r["outcome"]) for r in records} == {
        ("ada", ids["ci-dev"], "done"),
        ("ada", ids["scratch"], "done"),
    }
    again = plan({"cloud": fleet}, config, POLICY, SATURDAY_NIGHT)
    assert again.actions == []  # stopped and tagged: nothing left to do


@pytest.mark.moto
def test_ec2_dry_run_touches_nothing_and_approve_acts_and_audits(
    moto_server: RunningServer, tmp_path: Path
) -> None:
    ids = run_ec2("ap-southeast-2", moto_server.url)
    fleet = compute.connect(f"aws-ec2://ap-southeast-2?endpoint_url={moto_server.url}")
    check_dry_run_then_approve(fleet, ids, Ledger(tmp_path))


@pytest.mark.oci
def test_oci_dry_run_touches_nothing_and_approve_acts_and_audits(
    oci_emulator: OciEmulator, tmp_path: Path
) -> None:
    compartment = f"ocid1.compartment.oc1..{uuid.uuid4().hex}"
    ids = {
        name: oci_emulator.launch_instance(
            name, shape, compartment_id=compartment, freeform_tags=tags
        ).id
        for name, (shape, tags) in FLEET.items()
    }
    url = f"oci-compute://{compartment}?endpoint={oci_emulator.endpoint}"
    fleet = compute.connect(url, config=oci_emulator.sdk_config())
    check_dry_run_then_approve(fleet, ids, Ledger(tmp_path))
    assert oci_emulator.instance(ids["ci-dev"]).state == "STOPPED"


@pytest.mark.oci
def test_a_failed_action_is_audited_as_failed(oci_emulator: OciEmulator, tmp_path: Path) -> None:
    compartment = f"ocid1.compartment.oc1..{uuid.uuid4().hex}"
    oci_emulator.launch_instance(
        "dev-box",
        compartment_id=compartment,
        freeform_tags={"environment": "dev", "cost_center": "CC-101"},
    )
    fleet = compute.connect(
        f"oci-compute://{compartment}?endpoint={oci_emulator.endpoint}",
        config=oci_emulator.sdk_config(),
    )
    ledger = Ledger(tmp_path)
    planned = plan(
        {"oci": fleet}, RemediationConfig(policies=["off-hours"]), POLICY, SATURDAY_NIGHT
    )
    oci_emulator.faults.inject("InstanceAction", 409, code="Conflict", times=1)
    outcomes = apply(planned, {"oci": fleet}, ledger, approve=True, actor="test")
    assert [o.outcome for o in outcomes] == ["failed"]
    assert ledger.audit_log()[0]["outcome"] == "failed"


def test_idle_instances_are_resized_and_started_again(tmp_path: Path) -> None:
    fleet = compute.connect(f"embedded://{tmp_path}/fleet")
    idle = fleet.launch(
        "idle", "t3.xlarge", {"environment": "prod", "cost_center": "CC-101"}, utilisation=1.5
    )
    fleet.launch(
        "busy", "t3.xlarge", {"environment": "prod", "cost_center": "CC-101"}, utilisation=60.0
    )
    odd = fleet.launch(
        "odd", "x9.huge", {"environment": "prod", "cost_center": "CC-101"}, utilisation=0.5
    )
    config = RemediationConfig(
        policies=["idle"], idle_action="resize", downsize={"t3.xlarge": "t3.large"}
    )
    planned = plan({"local": fleet}, config, POLICY, TUESDAY_NOON)
    assert [(a.name, a.action, dict(a.params)) for a in planned.actions] == [
        ("idle", "resize", {"size": "t3.large"})
    ]
    assert planned.skipped == [
        {
            "policy": "idle",
            "fleet": "local",
            "instance": odd.id,
            "reason": "no downsize size for x9.huge",
        }
    ]
    apply(planned, {"local": fleet}, Ledger(tmp_path), approve=True, actor="test")
    assert (fleet.get(idle.id).size, fleet.get(idle.id).state) == ("t3.large", "running")


@pytest.mark.oci
def test_fleets_without_utilisation_are_skipped_with_the_reason(oci_emulator: OciEmulator) -> None:
    compartment = f"ocid1.compartment.oc1..{uuid.uuid4().hex}"
    oci_emulator.launch_instance(
        "quiet", compartment_id=compartment, freeform_tags={"cost_center": "CC-101"}
    )
    fleet = compute.connect(
        f"oci-compute://{compartment}?endpoint={oci_emulator.endpoint}",
        config=oci_emulator.sdk_config(),
    )
    planned = plan({"oci": fleet}, RemediationConfig(policies=["idle"]), POLICY, TUESDAY_NOON)
    assert planned.actions == []
    assert planned.skipped[0]["reason"].endswith("reports no utilisation")


class SlowStopFleet(EmbeddedFleet):
    """An embedded fleet whose stop is asynchronous, as EC2's and OCI's are: ``stopping`` at
    first, ``stopped`` ``settle`` seconds of ``clock`` later (never, with ``inf``)."""

    def __init__(self, folder: Path, clock: ManualClock, settle: float = 40.0) -> None:
        super().__init__(folder)
        self.clock, self.settle = clock, settle
        self.stopped_at: dict[str, float] = {}
        self.resize_error: SkybridgeError | None = None
        self.start_error: SkybridgeError | None = None

    def _stop(self, instance_id: str) -> None:
        self._update(instance_id, "state", "stopping")
        self.stopped_at[instance_id] = self.clock.now() + self.settle

    def _get(self, instance_id: str) -> Instance:
        due = self.stopped_at.get(instance_id)
        if due is not None and self.clock.now() >= due:
            del self.stopped_at[instance_id]
            self._update(instance_id, "state", "stopped")
        return super()._get(instance_id)

    def _resize(self, instance_id: str, size: str) -> None:
        if self.resize_error is not None:
            raise self.resize_error
        super()._resize(instance_id, size)

    def _start(self, instance_id: str) -> None:
        if self.start_error is not None:
            raise self.start_error
        super()._start(instance_id)


IDLE_RESIZE = RemediationConfig(
    policies=["idle"], idle_action="resize", downsize={"t3.large": "t3.medium"}
)


def resize_idle(
    fleet: SlowStopFleet, ledger: Ledger, timeout: float = 600.0
) -> tuple[Instance, list[Outcome]]:
    """Launch one idle running instance and apply the idle resize to it on ``fleet.clock``."""
    idle = fleet.launch(
        "idle-web", "t3.large", {"environment": "prod", "cost_center": "CC-101"}, utilisation=1.0
    )
    planned = plan({"local": fleet}, IDLE_RESIZE, POLICY, TUESDAY_NOON)
    assert [a.action for a in planned.actions] == ["resize"]
    clock = fleet.clock
    wait = StopWait(timeout=timeout, poll=5.0, clock=clock, sleep=clock.advance)
    return idle, apply(planned, {"local": fleet}, ledger, approve=True, actor="ada", wait=wait)


def test_a_resize_waits_for_an_asynchronous_stop_then_starts_the_instance_again(
    tmp_path: Path,
) -> None:
    fleet = SlowStopFleet(tmp_path / "fleet", ManualClock(), settle=40.0)
    ledger = Ledger(tmp_path)
    idle, outcomes = resize_idle(fleet, ledger)
    assert [(o.outcome, o.detail) for o in outcomes] == [
        ("done", "resized to t3.medium and started again")
    ]
    assert (fleet.get(idle.id).state, fleet.get(idle.id).size) == ("running", "t3.medium")
    assert fleet.clock.now() - ManualClock().now() >= 40.0  # it waited, on the clock it was given
    assert ledger.audit_log()[0]["outcome"] == "done"


def test_a_resize_that_fails_starts_the_instance_again_and_the_audit_says_so(
    tmp_path: Path,
) -> None:
    fleet = SlowStopFleet(tmp_path / "fleet", ManualClock())
    fleet.resize_error = TerminalError("no capacity for t3.medium in this zone")
    ledger = Ledger(tmp_path)
    idle, outcomes = resize_idle(fleet, ledger)
    assert (fleet.get(idle.id).state, fleet.get(idle.id).size) == ("running", "t3.large")
    assert [o.outcome for o in outcomes] == ["failed"]
    (record,) = ledger.audit_log()
    assert record["outcome"] == "failed"
    assert record["detail"] == (
        "resize to t3.medium failed: no capacity for t3.medium in this zone; "
        "the instance was started again"
    )


def test_a_stop_that_never_ends_is_a_failed_resize_saying_the_instance_is_not_running(
    tmp_path: Path,
) -> None:
    fleet = SlowStopFleet(tmp_path / "fleet", ManualClock(), settle=float("inf"))
    ledger = Ledger(tmp_path)
    idle, outcomes = resize_idle(fleet, ledger, timeout=120.0)
    assert [o.outcome for o in outcomes] == ["failed"]
    assert fleet.get(idle.id).state == "stopping"
    (record,) = ledger.audit_log()
    assert record["outcome"] == "failed"
    assert f"instance {idle.id} is still stopping after 120 s" in record["detail"]
    assert "the instance could not be started again" in record["detail"]
    assert record["detail"].endswith("it is not running: start it by hand")
    # it waited once more for the stop before giving up: 120 s, then another 120 s
    assert fleet.clock.now() - ManualClock().now() >= 240.0


def test_a_stop_that_outlasts_the_wait_is_waited_for_again_then_started(
    tmp_path: Path,
) -> None:
    fleet = SlowStopFleet(tmp_path / "fleet", ManualClock(), settle=200.0)
    ledger = Ledger(tmp_path)
    idle, outcomes = resize_idle(fleet, ledger, timeout=120.0)
    assert (fleet.get(idle.id).state, fleet.get(idle.id).size) == ("running", "t3.large")
    assert [o.outcome for o in outcomes] == ["failed"]
    (record,) = ledger.audit_log()
    assert record["outcome"] == "failed"
    assert record["detail"] == (
        f"resize to t3.medium failed: instance {idle.id} is still stopping after 120 s "
        "(waited for stopped); the instance was started again"
    )


def test_a_resized_instance_that_cannot_start_is_a_failure_that_says_so(tmp_path: Path) -> None:
    fleet = SlowStopFleet(tmp_path / "fleet", ManualClock())
    fleet.start_error = TransientError("InsufficientInstanceCapacity for t3.medium")
    ledger = Ledger(tmp_path)
    idle, outcomes = resize_idle(fleet, ledger)
    assert (fleet.get(idle.id).state, fleet.get(idle.id).size) == ("stopped", "t3.medium")
    assert [(o.outcome, o.detail) for o in outcomes] == [
        (
            "failed",
            "resized to t3.medium, but the instance could not be started again: "
            "InsufficientInstanceCapacity for t3.medium",
        )
    ]


@pytest.mark.moto
def test_an_idle_ec2_instance_is_resized_and_running_again(
    moto_server: RunningServer, tmp_path: Path
) -> None:
    region = "eu-north-1"
    client: Any = boto3.client("ec2", region_name=region, endpoint_url=moto_server.url)
    image = client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance_id = client.run_instances(
        ImageId=image, InstanceType="t3.large", MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": "Name", "Value": "idle-web"}, {"Key": "environment", "Value": "prod"},
        ]}],
    )["Instances"][0]["InstanceId"]  # fmt: skip
    cloudwatch: Any = boto3.client("cloudwatch", region_name=region, endpoint_url=moto_server.url)
    cloudwatch.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[{
            "MetricName": "CPUUtilization", "Value": 1.0, "Unit": "Percent",
            "Timestamp": datetime.now(UTC) - timedelta(hours=1),
            "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
        }],
    )  # fmt: skip
    fleet = compute.connect(f"aws-ec2://{region}?endpoint_url={moto_server.url}")
    planned = plan({"aws": fleet}, IDLE_RESIZE, POLICY, datetime.now(UTC))
    assert [(a.instance, a.action) for a in planned.actions] == [(instance_id, "resize")]
    outcomes = apply(planned, {"aws": fleet}, Ledger(tmp_path), approve=True, actor="ada")
    assert [(o.outcome, o.detail) for o in outcomes] == [
        ("done", "resized to t3.medium and started again")
    ]
    assert (fleet.get(instance_id).state, fleet.get(instance_id).size) == ("running", "t3.medium")
