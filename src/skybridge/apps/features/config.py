"""The ``[features]`` section of skybridge.toml (or ``SKYBRIDGE__FEATURES__<KEY>``).

::

    [features]
    definitions = "features.yaml"   # default: the two shipped example views
    online = "redis://127.0.0.1:6379/0"   # default backends.kv
    model_view = "realtime_features"
    missing_policy = "default"
    compact_every = 600             # seconds between compactions of the offline log

Events come from ``backends.streams``, the offline log goes to ``backends.objects`` under
``offline_prefix``, and predictions come from ``backends.models`` (default a local joblib file
under the data directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field

from skybridge.core.config import SettingsModel

MissingPolicy = Literal["default", "refuse", "pass"]


class FeaturesConfig(SettingsModel):
    """Settings of the features app."""

    model_config = ConfigDict(extra="forbid")

    definitions: Path | None = Field(
        default=None, description="Feature definitions (YAML); default the shipped examples"
    )
    online: str | None = Field(
        default=None, description="kv URL of the online store (default backends.kv)"
    )
    offline_prefix: str = Field(
        default="features/log", min_length=1, description="Key prefix of the offline log"
    )
    model_view: str | None = Field(
        default=None, description="The view whose features feed the model (default the first)"
    )
    model_features: list[str] | None = Field(
        default=None, description="Model input columns, in order (default the numeric features)"
    )
    missing_policy: MissingPolicy = Field(
        default="default",
        description="A missing feature at predict time: default (fill with the feature's "
        "default, else 0), refuse (answer 422), pass (send it as missing to the model)",
    )
    feedback_topic: str = Field(default="features.feedback", min_length=1, max_length=200)
    group: str = Field(default="features", min_length=1, description="Consumer group")
    batch_size: int = Field(default=500, ge=1, le=50_000)
    compact_every: float = Field(
        default=600.0, gt=0, description="Seconds between compactions of the offline log"
    )
    compact_after: float = Field(
        default=600.0,
        ge=0,
        description="Seconds a file of the offline log is left alone after it is written "
        "before compaction merges it (a batch delivered again within that finds its file)",
    )
    compact_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024,
        description="Bytes of files one compacted file is merged from at most",
    )
    #: ``up --demo`` only: seconds between demo event bursts.
    demo_every: float = Field(default=1.0, gt=0)
