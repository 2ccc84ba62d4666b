"""The ``[anomaly]`` section of skybridge.toml (or ``SKYBRIDGE__ANOMALY__<KEY>``).

::

    [anomaly]
    topic = "anomaly.events"      # events: {"series": "cpu-1", "time": "...", "metric": 58}
    detector = "combined"         # see `skybridge anomaly detectors`
    threshold = 0.55              # flag when score >= threshold (0.5 is the original |z| > 3)
    thresholds = { "checkout-latency" = 0.7 }   # per series
    detection = "online"          # or "scheduled": the job scores new rows, as the original did
    schedule_every = 120          # seconds between runs of the job (the original's 2 minutes)
    cooldown = 3600               # flags of a series closer than this (event time) are one incident

Rows go to ``backends.sql`` (table ``raw_events``, incidents in ``anomaly_incidents``), alerts
to ``backends.notify``, events come from ``backends.streams``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from skybridge.apps.anomaly.detectors import DEFAULT, DETECTORS, keeps_json_state
from skybridge.core.config import SettingsModel

TOPIC = "anomaly.events"
DEFAULT_THRESHOLD = 0.55


class AnomalyConfig(SettingsModel):
    """Settings of the anomaly app: the pipeline, the job, alerts and the demo."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(default=TOPIC, min_length=1, max_length=200)
    detector: str = Field(default=DEFAULT, description="Detector of the pipeline and the job")
    season: Literal["daily", "weekly"] = "daily"
    threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0.0, le=1.0)
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-series thresholds (series name -> score)"
    )
    detection: Literal["online", "scheduled"] = "online"
    schedule_every: float = Field(default=120.0, ge=1.0)
    cooldown: float = Field(default=3600.0, ge=0.0, description="Seconds of event time")
    feature_span: int = Field(default=100, ge=2, le=100_000, description="Rolling mean span")
    nab_dir: Path | None = Field(
        default=None, description="A NAB folder for the demo (default ../shared/data/nab)"
    )
    demo_series: str = "realTweets/Twitter_volume_AAPL.csv"
    demo_rate: float = Field(default=50.0, gt=0.0, description="Points per second of the demo")

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, name: str) -> str:
        if name not in DETECTORS:
            raise ValueError(f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}")
        if not keeps_json_state(name):
            raise ValueError(f"detector {name!r} cannot run in the pipeline (no JSON state)")
        return name

    @field_validator("thresholds")
    @classmethod
    def _scores(cls, values: dict[str, float]) -> dict[str, float]:
        bad = [name for name, score in values.items() if not 0.0 < score <= 1.0]
        if bad:
            raise ValueError(f"thresholds must be in (0, 1]: {', '.join(bad)}")
        return values

    def threshold_for(self, series: str) -> float:
        """The flag threshold of ``series``."""
        return self.thresholds.get(series, self.threshold)
