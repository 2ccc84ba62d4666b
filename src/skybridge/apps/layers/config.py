"""The ``[layers]`` section of skybridge.toml (or ``SKYBRIDGE__LAYERS__<KEY>``).

::

    [layers]
    runtime = "python3.12"            # python3.10 ... python3.14
    architecture = "arm64"            # or x86_64
    advisories = "/srv/pypa-advisory-database"   # an OSV folder or zip; unset: no vuln scan
    fail_on = "high"                  # low | medium | high | critical | never
    keep = 3                          # prune keeps the newest N (and every version in use)
    share_accounts = ["210987654321"] # granted on every publish
    share_organizations = ["o-abc123def4"]

Layers are published on ``backends.functions`` (``aws-lambda://REGION`` or the embedded
``embedded://{data_dir}/functions``); build records and rollouts live in ``backends.kv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from skybridge.apps.layers.targets import RUNTIMES
from skybridge.core.config import SettingsModel

Level = Literal["low", "medium", "high", "critical"]


class LayersConfig(SettingsModel):
    """Settings of the layers app: builds, scanning, sharing, pruning and rollouts."""

    model_config = ConfigDict(extra="forbid")

    runtime: str = Field(default="python3.12", description="Lambda Python runtime to build for")
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    keep: int = Field(default=3, ge=1, le=1000, description="Versions prune keeps at least")
    cache_dir: Path | None = Field(
        default=None, description="Build cache (default <data_dir>/layers)"
    )
    advisories: Path | None = Field(default=None, description="OSV advisory folder or zip")
    fail_on: Level | Literal["never"] = "high"
    unknown_severity: Level = Field(default="high", description="Rank of unrated advisories")
    deny_licences: list[str] = Field(default_factory=list, description="Licence globs refused")
    share_accounts: list[str] = Field(default_factory=list)
    share_organizations: list[str] = Field(default_factory=list)
    precompile: bool = Field(default=False, description="Ship bytecode for the target Python")
    strip: bool = Field(default=False, description="Strip debug symbols from .so files")
    keep_files: list[str] = Field(default_factory=list, description="Globs slimming never removes")
    interpreters: dict[str, str] = Field(default_factory=dict, description='{"3.12": "/path"}')
    find_links: list[str] = Field(default_factory=list, description="Extra wheel folders or URLs")
    index_url: str | None = None
    no_index: bool = False
    function_mb: float = Field(
        default=0.0, ge=0, description="Unzipped MB of the function's own code"
    )
    metrics_namespace: str = Field(default="Skybridge/Layers", min_length=1, max_length=255)
    rollout_steps: list[float] = Field(default_factory=lambda: [0.1, 0.5])
    rollout_every: float = Field(default=300.0, ge=1.0, description="Seconds between steps")
    rollout_start_timeout: float = Field(
        default=1800.0,
        ge=60.0,
        description="Seconds after which the rollouts job rolls back a rollout still starting",
    )

    @field_validator("runtime")
    @classmethod
    def _runtime(cls, value: str) -> str:
        if value not in RUNTIMES:
            raise ValueError(f"use one of {', '.join(RUNTIMES)}")
        return value
