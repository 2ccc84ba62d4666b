"""HTTP routes under ``/api/anomaly`` (mounted behind token auth by the service).

Errors: 404 unknown series or incident, 409 an incident already resolved, 422 a malformed
body (names the field, and the index of the event, time or value). Events and ``/detect`` take
the same checks as the pipeline (:mod:`.points`): series and ids of 1-200 printable characters,
values finite and within +-1e150.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter

from skybridge.apps.anomaly import incidents, queries
from skybridge.apps.anomaly.config import AnomalyConfig
from skybridge.apps.anomaly.detectors import DEFAULT, DETECTORS
from skybridge.apps.anomaly.evaluate import detector_scores
from skybridge.apps.anomaly.ingest import ingest
from skybridge.apps.anomaly.points import MAX_MAGNITUDE, MAX_NAME, parse_point, parse_time
from skybridge.apps.kit.access import requires
from skybridge.apps.kit.answers import rendered
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.errors import error_responses
from skybridge.apps.kit.limits import BodyLimit, MiB
from skybridge.apps.kit.paging import PAGED, page_headers
from skybridge.core.errors import ValidationError, parse_item

Context = AppContext[AnomalyConfig]
READ = [requires("anomaly:read")]
UNKNOWN = error_responses(e404="No series or incident has this name")
BAD = error_responses(e422="The body is malformed; the message names the field")
MAX_POINTS = 10_000
MAX_SERIES = 1000
MAX_OFFSET = 1_000_000_000
#: Room for MAX_POINTS events with series and id names of up to 200 characters each.
EVENTS_BODY = Depends(BodyLimit(8 * MiB))


class SeriesSummary(BaseModel):
    series: str
    points: int
    flags: int
    first: str | None
    last: str | None
    open_incidents: int


class PointOut(BaseModel):
    event_id: str
    time: str
    value: float
    feature1: float | None
    feature2: float | None
    rolling_mean: float | None
    rolling_std: float | None
    score: float | None
    flagged: bool
    processed: bool
    reason: str | None


POINTS = TypeAdapter(list[PointOut])


class Incident(BaseModel):
    incident_id: str
    series: str
    opened: str | None
    last: str | None
    flags: int
    max_score: float
    reason: str
    status: str
    acknowledged_by: str | None
    acknowledged: str | None
    resolved: str | None
    notified: bool


def _in_range(value: float) -> float:
    if abs(value) > MAX_MAGNITUDE:  # pydantic's own le/ge would spell 1e150 in 151 digits
        raise ValueError(
            f"out of range: give a finite number between -{MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g}"
        )
    return value


#: A value the detectors take: finite, within +-1e150 (see :data:`.points.MAX_MAGNITUDE`).
Value = Annotated[
    float,
    Field(allow_inf_nan=False, description=f"finite, within +-{MAX_MAGNITUDE:g}"),
    AfterValidator(_in_range),
]


class EventIn(BaseModel):
    series: str = Field(
        min_length=1, max_length=MAX_NAME, description="printable, no control characters"
    )
    time: str | float = Field(description="ISO 8601 (UTC unless it names a zone) or Unix seconds")
    metric: Annotated[Value, Field(validation_alias=AliasChoices("metric", "value"))]
    id: str | None = Field(default=None, max_length=MAX_NAME)


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_POINTS)


class DetectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    times: list[str | float] = Field(min_length=1, max_length=MAX_POINTS)
    values: list[Value] = Field(min_length=1, max_length=MAX_POINTS)
    detector: str = DEFAULT
    threshold: float = Field(default=0.55, gt=0.0, le=1.0)


class Acknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, max_length=200)


def build_router(ctx: Context) -> APIRouter:
    """The app's routes."""
    router = APIRouter()

    @router.get("/series", response_model=list[SeriesSummary], responses=PAGED, dependencies=READ)
    def series(
        request: Request,
        response: Response,
        limit: int = Query(default=MAX_SERIES, ge=1, le=MAX_SERIES),
        offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
        search: str | None = Query(default=None, max_length=MAX_NAME),
    ) -> list[dict[str, Any]]:
        """Series by name (``limit`` after ``offset``; ``search``: names containing it, any
        case): points, flags, time span, open incidents. ``X-Total-Count`` says how many
        there are; ``Link`` (rel next) names the next page when there is one."""
        with queries.opened(ctx) as engine:
            rows = queries.series_summaries(engine, limit, offset, search)
            total = queries.series_count(engine, search)
        page_headers(request, response, total, offset + len(rows))
        return rows

    @router.get(
        "/series/{name}/points",
        response_model=list[PointOut],
        responses=UNKNOWN,
        dependencies=READ,
    )
    def points(name: str, limit: int = Query(default=500, ge=1, le=MAX_POINTS)) -> Any:
        """The last points of a series with features, scores, flags and reasons."""
        with queries.opened(ctx) as engine:
            found = queries.series_points(engine, name, limit)
        return rendered(found, POINTS)  # up to 10,000 points: rendered off the event loop

    @router.get(
        "/incidents", response_model=list[Incident], responses={**BAD, **PAGED}, dependencies=READ
    )
    def incident_list(
        request: Request,
        response: Response,
        status: str | None = None,
        limit: int = Query(default=200, ge=1, le=queries.MAX_INCIDENTS),
        offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
    ) -> Any:
        """Incidents, newest first, ``limit`` after ``offset``; ``status`` filters (open,
        acknowledged, resolved). ``X-Total-Count`` says how many match; ``Link`` (rel next)
        names the next page when there is one."""
        with queries.opened(ctx) as engine:
            rows = queries.incident_list(engine, status, limit, offset)
            total = queries.incident_count(engine, status)
        page_headers(request, response, total, offset + len(rows))
        return rows

    def change(incident_id: str, status: str, by: str | None = None) -> dict[str, str]:
        with queries.opened(ctx) as engine:
            incidents.set_status(engine, incident_id, status, by)
        return {"incident_id": incident_id, "status": status}

    @router.post(
        "/incidents/{incident_id}/acknowledge",
        responses={**UNKNOWN, **BAD, **error_responses(e409="The incident is resolved")},
        dependencies=[requires("anomaly:acknowledge")],
    )
    def acknowledge(incident_id: str, body: Acknowledge) -> dict[str, str]:
        """Acknowledge an incident (someone is on it)."""
        return change(incident_id, "acknowledged", body.by)

    @router.post(
        "/incidents/{incident_id}/resolve",
        responses={**UNKNOWN, **error_responses(e409="The incident is already resolved")},
        dependencies=[requires("anomaly:acknowledge")],
    )
    def resolve(incident_id: str) -> dict[str, str]:
        """Resolve an incident; the series' next flag opens a new one."""
        return change(incident_id, "resolved")

    @router.post("/events", responses=BAD, dependencies=[requires("anomaly:ingest"), EVENTS_BODY])
    def events(body: IngestRequest) -> dict[str, int]:
        """Put events on the app's topic (the pipeline scores them)."""
        parsed = [
            parse_item("events", n, parse_point, e.model_dump(exclude_none=True))
            for n, e in enumerate(body.events)
        ]
        return {"produced": ingest(ctx, parsed)}

    @router.post("/detect", responses=BAD, dependencies=[*READ, EVENTS_BODY])
    def detect(body: DetectRequest) -> dict[str, Any]:
        """Score a series sent in the body (nothing is stored)."""
        if len(body.times) != len(body.values):
            raise ValidationError("times and values must have the same length")
        if body.detector not in DETECTORS:
            raise ValidationError(
                f"unknown detector {body.detector!r}", hint=f"use one of {', '.join(DETECTORS)}"
            )
        times = [parse_item("times", n, parse_time, t) for n, t in enumerate(body.times)]
        scores, reasons = detector_scores(times, body.values, body.detector, ctx.config.season)
        return {
            "scores": scores,
            "flagged": [i for i, s in enumerate(scores) if s >= body.threshold],
            "reasons": {
                str(i): r for i, r in enumerate(reasons) if r and scores[i] >= body.threshold
            },
        }

    return router
