"""``aws-ec2://REGION``: EC2 instances (stop, start, tag, resize, terminate) and their CPU from
CloudWatch.

URL parameters: ``endpoint_url`` (moto in tests), ``profile``, ``timeout``. botocore errors are
translated at this boundary; an instance that does not exist is ``NotFound``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Self, TypeVar, cast

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import boto3_client, classify_botocore
from skybridge.backends.compute.base import ComputeFleet, Instance, State, missing
from skybridge.core.errors import ConfigError
from skybridge.core.urls import BackendURL

T = TypeVar("T")
_SETTING = "backends.compute"
_STATES = {"pending", "running", "stopping", "stopped", "terminated"}
_NOT_FOUND = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
_CONFLICT = frozenset({"IncorrectInstanceState", "IncorrectState"})
_INVALID = frozenset({"InvalidParameterValue", "InvalidTag", "InvalidInstanceAttributeValue"})


class Ec2Fleet(ComputeFleet):
    """The EC2 instances of one region."""

    capabilities = frozenset({"resize", "terminate", "utilisation"})
    provider = "aws"

    def __init__(
        self,
        region: str,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not region:
            raise ConfigError("aws-ec2:// needs a region: aws-ec2://eu-west-1", setting=_SETTING)
        self.region = region
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"mode": "standard", "total_max_attempts": 1},
        )
        options = {"region": region, "endpoint_url": endpoint_url, "profile": profile}
        self._ec2: Any = boto3_client("ec2", config=config, setting=_SETTING, **options)
        self._cloudwatch: Any = boto3_client(
            "cloudwatch", config=config, setting=_SETTING, **options
        )

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        params = url.params
        return cls(
            url.rest.strip("/"),
            endpoint_url=params.get("endpoint_url") or options.get("endpoint_url"),
            profile=params.get("profile") or options.get("profile"),
            timeout=float(params.get("timeout", options.get("timeout", 10.0))),
        )

    def describe(self) -> str:
        return f"aws-ec2://{self.region}"

    def ping(self) -> None:
        self._call(
            "DescribeInstances", self.region, lambda: self._ec2.describe_instances(MaxResults=5)
        )

    def close(self) -> None:
        self._ec2.close()
        self._cloudwatch.close()

    def _call(self, operation: str, subject: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (ClientError, BotoCoreError) as exc:
            raise classify_botocore(
                exc,
                service=f"EC2 {operation}",
                subject=subject,
                not_found=_NOT_FOUND,
                conflict=_CONFLICT,
                invalid=_INVALID,
                setting=_SETTING,
            ) from None

    def _instance(self, raw: Mapping[str, Any]) -> Instance:
        tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
        state = raw["State"]["Name"]
        return Instance(
            id=raw["InstanceId"],
            name=tags.get("Name", raw["InstanceId"]),
            state=cast(State, state if state in _STATES else "other"),
            size=raw["InstanceType"],
            tags=tags,
            region=self.region,
            provider=self.provider,
            launched_at=raw.get("LaunchTime"),
        )

    def _list(self) -> Iterator[Instance]:
        paginator = self._ec2.get_paginator("describe_instances")
        pages = self._call("DescribeInstances", self.region, lambda: list(paginator.paginate()))
        for page in pages:
            for reservation in page["Reservations"]:
                yield from (self._instance(raw) for raw in reservation["Instances"])

    def _get(self, instance_id: str) -> Instance:
        def describe() -> Any:
            return self._ec2.describe_instances(InstanceIds=[instance_id])

        answer = self._call("DescribeInstances", instance_id, describe)
        reservations = answer.get("Reservations", [])
        if not reservations or not reservations[0]["Instances"]:
            raise missing("EC2", instance_id)
        return self._instance(reservations[0]["Instances"][0])

    def _stop(self, instance_id: str) -> None:
        self._call(
            "StopInstances",
            instance_id,
            lambda: self._ec2.stop_instances(InstanceIds=[instance_id]),
        )

    def _start(self, instance_id: str) -> None:
        self._call(
            "StartInstances",
            instance_id,
            lambda: self._ec2.start_instances(InstanceIds=[instance_id]),
        )

    def _set_tags(self, instance_id: str, tags: Mapping[str, str]) -> None:
        pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
        self._call(
            "CreateTags",
            instance_id,
            lambda: self._ec2.create_tags(Resources=[instance_id], Tags=pairs),
        )

    def _resize(self, instance_id: str, size: str) -> None:
        def modify() -> Any:
            return self._ec2.modify_instance_attribute(
                InstanceId=instance_id, InstanceType={"Value": size}
            )

        self._call("ModifyInstanceAttribute", instance_id, modify)

    def _terminate(self, instance_id: str) -> None:
        self._call(
            "TerminateInstances",
            instance_id,
            lambda: self._ec2.terminate_instances(InstanceIds=[instance_id]),
        )

    def _utilisation(self, instance_id: str, since: datetime) -> float | None:
        def statistics() -> Any:
            return self._cloudwatch.get_metric_statistics(
                Namespace="AWS/EC2",
                MetricName="CPUUtilization",
                Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
                StartTime=since,
                EndTime=datetime.now(UTC),
                Period=3600,
                Statistics=["Average"],
            )

        points = self._call("GetMetricStatistics", instance_id, statistics)["Datapoints"]
        if not points:
            return None
        return sum(float(p["Average"]) for p in points) / len(points)
