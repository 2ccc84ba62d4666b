"""The ``[costs]`` section of skybridge.toml (or ``SKYBRIDGE__COSTS__<KEY>``).

::

    [costs]
    report_prefix = "reports/cost-csv/"     # delivered exports under backends.objects
    allocation_tag = "cost_center"

    [[costs.tags]]                           # the tag policy
    key = "cost_center"
    allowed = ["CC-101", "CC-202", "CC-303"]

    [[costs.budgets]]
    name = "cc-101"
    dimension = "tag:cost_center"            # or provider, account, compartment, service
    value = "CC-101"
    amount = 5000

    [costs.sources]                          # cost APIs, pulled by `skybridge costs ingest --api`
    aws = "aws-ce://us-east-1"
    oci = "oci-usage://ocid1.tenancy.oc1..xxx"

    [costs.fleets]                           # instances to remediate (default backends.compute)
    aws = "aws-ec2://eu-west-1"

    [costs.remediation]
    offhours = "19:00-07:00"
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from skybridge.core.config import SettingsModel

DIMENSIONS = ("provider", "account", "compartment", "service", "region")
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
Policy = Literal["off-hours", "tag-noncompliant", "idle"]
ALL_POLICIES: tuple[Policy, ...] = ("off-hours", "tag-noncompliant", "idle")


def _all_policies() -> list[Policy]:
    return list(ALL_POLICIES)


def check_dimension(value: str) -> str:
    """``provider``, ``account``, ``compartment``, ``service``, ``region`` or ``tag:<key>``."""
    if value in DIMENSIONS or (value.startswith("tag:") and len(value) > 4):
        return value
    raise ValueError(f"dimension {value!r} must be one of {', '.join(DIMENSIONS)} or tag:<key>")


class TagRule(SettingsModel):
    """A required tag: its key (any provider's shape: ``user:Key``, ``Namespace.Key``...),
    the values allowed (empty: any value), and other key names that mean the same tag."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=128)
    allowed: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)


class BudgetSpec(SettingsModel):
    """A monthly budget on the spend of one dimension value (or all spend: dimension ``total``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    dimension: str = "total"
    value: str | None = None
    amount: float = Field(gt=0)
    actual_thresholds: list[float] = Field(default_factory=lambda: [0.8, 1.0])
    forecast_thresholds: list[float] = Field(default_factory=lambda: [1.0])

    @field_validator("dimension")
    @classmethod
    def _dimension(cls, value: str) -> str:
        return value if value == "total" else check_dimension(value)

    @field_validator("actual_thresholds", "forecast_thresholds")
    @classmethod
    def _thresholds(cls, values: list[float]) -> list[float]:
        if any(not 0 < v <= 10 for v in values):
            raise ValueError("thresholds are shares of the budget, between 0 and 10 (0.8 = 80%)")
        return sorted(set(values))

    @model_validator(mode="after")
    def _value(self) -> BudgetSpec:
        if (self.dimension == "total") != (self.value is None):
            raise ValueError("a budget on a dimension needs a value; a total budget has none")
        return self


class RemediationConfig(SettingsModel):
    """What the remediation policies do."""

    model_config = ConfigDict(extra="forbid")

    policies: list[Policy] = Field(default_factory=_all_policies)
    offhours: str = Field(default="19:00-07:00", description="HH:MM-HH:MM, may wrap midnight")
    timezone: str = "UTC"
    weekends_off: bool = True
    environment_tag: str = "environment"
    production_values: list[str] = Field(default_factory=lambda: ["prod", "production"])
    idle_cpu_percent: float = Field(default=5.0, ge=0, le=100)
    idle_days: int = Field(default=7, ge=1, le=90)
    idle_action: Literal["stop", "resize", "terminate"] = "stop"
    downsize: dict[str, str] = Field(default_factory=dict, description="size -> smaller size")
    stop_timeout: float = Field(
        default=1200.0,
        gt=0,
        le=3600,
        description="seconds a resize waits for its instance to stop (an OCI soft stop can "
        "take 15 minutes)",
    )
    alert_tag: str = "cost_alerted"

    @field_validator("offhours")
    @classmethod
    def _offhours(cls, value: str) -> str:
        if not _HOURS.match(value):
            raise ValueError("offhours is HH:MM-HH:MM, e.g. 19:00-07:00")
        return value


class CostsConfig(SettingsModel):
    """Settings of the costs app: the CLI, the service, the scheduled jobs."""

    model_config = ConfigDict(extra="forbid")

    data: Path | None = Field(
        default=None, description="Parquet and ledger (default <data_dir>/costs)"
    )
    report_prefix: str = Field(
        default="reports/cost-csv/",
        description="Exports under backends.objects (default: where OCI writes its cost reports)",
    )
    allocation_tag: str = Field(default="cost_center", min_length=1)
    tags: list[TagRule] = Field(
        default_factory=lambda: [TagRule(key="cost_center", allowed=["CC-101", "CC-202", "CC-303"])]
    )
    budgets: list[BudgetSpec] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict, description="name -> billing API URL")
    fleets: dict[str, str] = Field(default_factory=dict, description="name -> compute URL")
    remediation: RemediationConfig = Field(default_factory=RemediationConfig)
    report_days: int = Field(default=30, ge=1, le=366)
    anomaly_threshold: float = Field(default=4.0, gt=0, description="robust z-score to flag")
    anomaly_min_impact: float = Field(default=5.0, ge=0, description="dollars above baseline")
    anomaly_dimension: str = "service"
    ingest_every: float = Field(default=21600.0, ge=60, description="seconds between pulls")
    actor: str = Field(default="skybridge", description="name written in the audit log")

    @field_validator("data", mode="before")
    @classmethod
    def _local_folder(cls, value: object) -> object:
        if isinstance(value, str) and "://" in value:
            scheme = value.split("://", 1)[0]
            raise ValueError(
                f"data is a local folder (the Parquet files and their SQLite ledger), not a "
                f"{scheme}:// URL: give a path, or leave it out for <data_dir>/costs"
            )
        return value

    @field_validator("anomaly_dimension", "allocation_tag")
    @classmethod
    def _dimension(cls, value: str, info: object) -> str:
        if getattr(info, "field_name", "") == "anomaly_dimension":
            return check_dimension(value)
        return value

    @model_validator(mode="after")
    def _unique_budgets(self) -> CostsConfig:
        names = [b.name for b in self.budgets]
        if len(names) != len(set(names)):
            raise ValueError("budget names must be unique")
        return self
