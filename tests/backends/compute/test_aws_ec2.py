"""aws-ec2://: EC2 on the moto server passes the compute contract; CPU comes from CloudWatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from skybridge.backends import compute
from skybridge.backends.compute import ComputeFleet
from skybridge.core.errors import ConfigError
from skybridge.testing.contracts.compute import ComputeContract, Launch
from skybridge.testing.servers import RunningServer

pytestmark = pytest.mark.moto
REGION = "eu-west-1"


def ec2(moto_server: RunningServer) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=moto_server.url)


def run_instance(client: Any, name: str, size: str, tags: dict[str, str]) -> str:
    image = client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    pairs = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in tags.items()]
    answer = client.run_instances(
        ImageId=image, InstanceType=size, MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": pairs}],
    )  # fmt: skip
    return str(answer["Instances"][0]["InstanceId"])


class TestEc2Fleet(ComputeContract):
    unknown_id = "i-0123456789abcdef0"

    @pytest.fixture
    def fleet(self, moto_server: RunningServer) -> ComputeFleet:
        return compute.connect(f"aws-ec2://{REGION}?endpoint_url={moto_server.url}")

    @pytest.fixture
    def launch(self, moto_server: RunningServer) -> Launch:
        client = ec2(moto_server)
        return lambda name, size, tags: run_instance(client, name, size, tags)


def test_utilisation_is_the_cloudwatch_average(moto_server: RunningServer) -> None:
    fleet = compute.connect(f"aws-ec2://{REGION}?endpoint_url={moto_server.url}")
    instance_id = run_instance(ec2(moto_server), "idle", "t3.large", {})
    assert fleet.utilisation(instance_id, datetime.now(UTC) - timedelta(days=1)) is None
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_server.url)
    now = datetime.now(UTC)
    for hours, value in ((1, 2.0), (2, 4.0)):
        cloudwatch.put_metric_data(
            Namespace="AWS/EC2",
            MetricData=[{
                "MetricName": "CPUUtilization", "Value": value, "Unit": "Percent",
                "Timestamp": now - timedelta(hours=hours),
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
            }],
        )  # fmt: skip
    assert fleet.utilisation(instance_id, now - timedelta(days=1)) == pytest.approx(3.0)


def test_a_url_without_a_region_names_the_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        compute.connect("aws-ec2://")
    assert caught.value.setting == "backends.compute"
