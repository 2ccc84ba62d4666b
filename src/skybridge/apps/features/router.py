"""HTTP routes under ``/api/features`` (mounted behind token auth by the service).

* ``GET /api/features/views``: the views and their features;
* ``GET /api/features/{entity}?view=V``: an entity's current features, each with its event
  time, age and, when missing, why (unknown, stale past its TTL, empty window);
* ``POST /api/features/lookup``: many entities in one read;
* ``POST /api/features/predict``: current features + request input -> the model, with the
  features' freshness and what the missing policy filled;
* ``POST /api/features/feedback``: publish the outcome of a prediction to the feedback topic;
* ``POST /api/features/training-set``: point-in-time features for entity rows.

Errors: 404 unknown view or model, 422 bad input (names the field), 503 a store or the model
unreachable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from skybridge.apps.features.online import MAX_ENTITIES
from skybridge.apps.features.operations import view_summary
from skybridge.apps.features.store import Context, FeatureStore, SharedStore
from skybridge.apps.kit.access import requires
from skybridge.apps.kit.errors import error_responses
from skybridge.core import jsoncodec

MAX_ROWS = 10_000


class LookupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    view: str | None = Field(default=None, description="Feature view (default the first)")
    entities: list[str] = Field(min_length=1, max_length=MAX_ENTITIES)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: str = Field(min_length=1, max_length=512, description="Entity key")
    input: dict[str, float] = Field(
        default_factory=dict, description="Request-time model inputs (numbers by column name)"
    )


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prediction_id: str = Field(min_length=1, max_length=200)
    entity: str = Field(min_length=1, max_length=512)
    label: float | int | str | bool


class TrainingSetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    view: str | None = None
    as_of: str = Field(min_length=1, description="The column holding each row's as-of time")
    entity_column: str | None = None
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ROWS)


def build_router(ctx: Context) -> APIRouter:
    """The features routes, on one store kept open for the life of the service."""
    router = APIRouter()
    shared = SharedStore(ctx)

    @contextmanager
    def store(model: bool = False, streams: bool = False) -> Iterator[FeatureStore]:
        yield shared.get(model=model, streams=streams)

    @router.get("/views", dependencies=[requires("features:read")])
    def views() -> dict[str, Any]:
        """The feature views and their features."""
        with store() as s:
            return {"views": [view_summary(v) for v in s.views]}

    @router.get(
        "/{entity}",
        dependencies=[requires("features:read")],
        responses=error_responses(e404="No such view", e422="Malformed entity key"),
    )
    def features(entity: str, view: str | None = Query(default=None)) -> dict[str, Any]:
        """An entity's current features (TTL enforced: stale values are missing, with why)."""
        with store() as s:
            return s.get(view, [entity])[0].to_dict()

    @router.post(
        "/lookup",
        dependencies=[requires("features:read")],
        responses=error_responses(e404="No such view", e422="Bad request"),
    )
    def lookup(body: LookupRequest) -> dict[str, Any]:
        """Many entities' current features in one read."""
        with store() as s:
            return {"entities": [v.to_dict() for v in s.get(body.view, body.entities)]}

    @router.post(
        "/predict",
        response_model=dict[str, Any],
        dependencies=[requires("features:predict")],
        responses=error_responses(
            e404="No model", e422="Missing features or bad input", e503="Model or store unreachable"
        ),
    )
    def predict(body: PredictRequest) -> Response:
        """The model's prediction from the entity's current features and the request input."""
        # Encoded here with orjson: FastAPI's generic path (jsonable_encoder, validation against
        # the response model, json.dumps) cost about 120 us, more than the model's own call.
        with store(model=True) as s:
            answer = s.predict(body.entity, body.input).to_dict()
        return Response(jsoncodec.dumps(answer), media_type="application/json")

    @router.post(
        "/feedback",
        dependencies=[requires("features:feedback")],
        responses=error_responses(e422="Bad request"),
    )
    def feedback(body: FeedbackRequest) -> dict[str, Any]:
        """Publish the outcome of a prediction to the feedback topic."""
        with store(streams=True) as s:
            return s.feedback(body.prediction_id, body.entity, body.label)

    @router.post(
        "/training-set",
        dependencies=[requires("features:train")],
        responses=error_responses(e404="No such view", e422="Bad rows"),
    )
    def training_set(body: TrainingSetRequest) -> dict[str, Any]:
        """Point-in-time features for entity rows, from the offline log."""
        with store() as s:
            result = s.training_set(
                body.view, body.rows, as_of=body.as_of, entity_column=body.entity_column
            )
            return result.to_dict()

    return router
