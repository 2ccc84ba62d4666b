"""``/api/recommend``: a user's recommendations, events in, retraining, status and metrics.

Fixed paths (``/status``, ``/versions``, ``/metrics``, ``/events``, ``/train``) are declared
before ``/{user}``, so user ids equal to those names are served only through the CLI.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.errors import error_responses, pattern_rule
from skybridge.apps.recommend.events import USER_ID, USER_ID_RULE, parse_event
from skybridge.apps.recommend.generative import MAX_CONTEXT, generate
from skybridge.apps.recommend.metrics import feedback_metrics
from skybridge.apps.recommend.ranking import MAX_K, recommend
from skybridge.apps.recommend.service import Context, shared_recommender
from skybridge.apps.recommend.status import profile_view, status, version_rows
from skybridge.apps.recommend.training import retrain
from skybridge.core.errors import ValidationError, parse_item

#: A user id, by the rule events are checked with (see :mod:`.events`).
UserPath = Annotated[str, Path(pattern=pattern_rule(USER_ID, USER_ID_RULE))]
MAX_EVENTS = 1000


class EventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_EVENTS,
        description='e.g. [{"user": "U123", "item": "I456", "kind": "rec_click"}]',
    )


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    context: str = Field(default="", max_length=MAX_CONTEXT)
    k: int | None = Field(default=None, ge=1, le=MAX_K)
    category: list[str] = Field(default_factory=list, max_length=50)


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_days: float | None = Field(default=None, gt=0, le=36_500)


def build_router(ctx: Context) -> APIRouter:
    router = APIRouter()
    bad = error_responses(e404="No model yet", e422="Bad input", e400="Bad event or filter")

    @router.get("/status", dependencies=[requires("recommend:read")])
    def get_status() -> dict[str, Any]:
        """Served model, catalogue and user counts, click-through and coverage."""
        return status(shared_recommender(ctx))

    @router.get("/versions", dependencies=[requires("recommend:read")])
    def get_versions() -> list[dict[str, Any]]:
        """Kept model versions, newest first."""
        return version_rows(shared_recommender(ctx))

    @router.get("/metrics", responses=bad, dependencies=[requires("recommend:read")])
    def get_metrics(days: Annotated[float, Query(ge=1, le=366)] = 7.0) -> dict[str, Any]:
        """Click-through and catalogue coverage over the last ``days``."""
        return feedback_metrics(shared_recommender(ctx), days)

    @router.post("/events", responses=bad, dependencies=[requires("recommend:feedback")])
    def post_events(body: EventsRequest) -> dict[str, Any]:
        """Publish events (view, click, purchase, rec_click, rec_ignore); all are checked
        before any is published."""
        events = []
        for n, raw in enumerate(body.events):
            events.append(parse_item("events", n, parse_event, raw))
            if events[-1].kind == "rec_served":
                raise ValidationError(f"events[{n}]: rec_served is published by the service")
        return {"published": shared_recommender(ctx).publish(events)}

    @router.post("/train", responses=bad, dependencies=[requires("recommend:train")])
    def post_train(body: TrainRequest | None = None) -> dict[str, Any]:
        """Retrain on the window (the configured one with no body) and swap the new version in."""
        body = body or TrainRequest()
        return retrain(shared_recommender(ctx), window_days=body.window_days).to_dict()

    @router.get("/{user}", responses=bad, dependencies=[requires("recommend:read")])
    def get_recommendations(
        user: UserPath,
        k: Annotated[int | None, Query(ge=1, le=MAX_K)] = None,
        category: Annotated[list[str] | None, Query(max_length=50)] = None,
        segment: Annotated[str | None, Query(max_length=128)] = None,
    ) -> dict[str, Any]:
        """The items to show ``user`` now: personal top-K (filters, no seen items, MMR) or
        popular in the segment for a cold start.

        Serving is recorded: each answer publishes a ``rec_served`` impression for the items it
        names (``[recommend] record_impressions``, on by default), which the click-through and
        coverage metrics count, whatever the caller's role. Calling it again records again.
        """
        engine = shared_recommender(ctx)
        return recommend(engine, user, k=k, categories=category or (), segment=segment).to_dict()

    @router.get("/{user}/profile", responses=bad, dependencies=[requires("recommend:read")])
    def get_profile(user: UserPath) -> dict[str, Any]:
        """The user's segment and recent events."""
        return profile_view(shared_recommender(ctx), user)

    @router.post("/{user}/generate", responses=bad, dependencies=[requires("recommend:generate")])
    def post_generate(user: UserPath, body: GenerateRequest) -> dict[str, Any]:
        """Items the language model proposes, checked against the catalogue (refused ones are
        listed with the reason)."""
        engine = shared_recommender(ctx)
        return generate(
            engine, user, context=body.context, k=body.k, categories=body.category
        ).to_dict()

    return router
