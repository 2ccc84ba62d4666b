"""The ``[recommend]`` section of skybridge.toml (or ``SKYBRIDGE__RECOMMEND__<KEY>``)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from skybridge.core.config import SettingsModel

FoldIn = Literal["als", "decay"]
#: Interaction kinds and the confidence each adds to a user's preference for the item.
DEFAULT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "rec_click": 2.0,
    "purchase": 4.0,
}


class RecommendConfig(SettingsModel):
    """Settings of the recommend app.

    Attributes:
        topic: The stream topic of user events and feedback.
        collection: Prefix of the vector collections that hold each model version's items.
        factors: ALS latent factors (a training uses at most a quarter of its item count).
        regularization: ALS L2 regularization (also used by the fold-in).
        alpha: Confidence scale of implicit feedback (confidence = alpha * summed weight).
        iterations: ALS sweeps per training.
        fold_in: How a user's vector follows each event: ``als`` (least squares against the
            fixed item factors, as implicit's ``recalculate_user``) or ``decay`` (a decayed
            average of the items' vectors).
        decay: Weight kept by the old vector per event under ``fold_in = "decay"``.
        weights: Confidence added per event kind; kinds not listed (``rec_ignore``) only hide
            the item from that user's recommendations.
        top_k: Items returned by default.
        candidates: Items taken from the vector index before diversification.
        mmr_lambda: Relevance weight of maximal marginal relevance (1.0 turns diversity off).
        only_available: Recommend only catalogue items with ``available = true``.
        window_days: Days of events a retraining learns from.
        retrain_every: Seconds between scheduled retrainings.
        min_interactions: Fewest events a retraining needs (else it keeps the current model).
        keep_versions: Model versions kept (older vector collections are dropped).
        profile_items: Most items remembered per user (the oldest are forgotten first).
        recent_events: Events of a user kept for the page and the generative prompt.
        record_impressions: Publish what was served (``rec_served``) for click-through and
            coverage metrics.
    """

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(default="recommend-events", pattern=r"^[A-Za-z0-9._-]{1,200}$")
    collection: str = Field(default="items", pattern=r"^[a-z][a-z0-9_]{0,30}$")
    factors: int = Field(default=64, ge=2, le=1024)
    regularization: float = Field(default=0.05, ge=0.0)
    alpha: float = Field(default=2.0, gt=0.0)
    iterations: int = Field(default=15, ge=1, le=200)
    fold_in: FoldIn = "als"
    decay: float = Field(default=0.9, gt=0.0, lt=1.0)
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    top_k: int = Field(default=10, ge=1, le=100)
    candidates: int = Field(default=100, ge=1, le=2000)
    mmr_lambda: float = Field(default=0.9, ge=0.0, le=1.0)
    only_available: bool = True
    window_days: float = Field(default=7.0, gt=0.0, le=36_500.0)
    retrain_every: float = Field(default=86_400.0, ge=60.0)
    min_interactions: int = Field(default=10, ge=1)
    keep_versions: int = Field(default=3, ge=1, le=20)
    profile_items: int = Field(default=500, ge=1, le=100_000)
    recent_events: int = Field(default=20, ge=1, le=1000)
    record_impressions: bool = True

    @field_validator("weights")
    @classmethod
    def _known_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(
                f"unknown event kinds {sorted(unknown)}; weights take {sorted(DEFAULT_WEIGHTS)}"
            )
        if any(w <= 0 for w in value.values()):
            raise ValueError("every weight must be > 0")
        return value
