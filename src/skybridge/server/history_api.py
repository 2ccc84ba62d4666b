"""``GET /api/metrics/history``: the series the dashboard's charts draw.

API clients send their bearer token. The dashboard's charts poll this route from the browser,
where scripts never see a token, so a signed-in session (its HttpOnly, SameSite=Strict cookie)
is accepted too, for this read-only route alone. Either way the caller needs ``service:read``.
Only numbers leave, named by pipeline, app, consumer group and topic.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field, StringConstraints

from skybridge.apps.kit.access import document_scopes, requires
from skybridge.apps.kit.web import SERIES_METRICS
from skybridge.auth.tokens import Principal
from skybridge.server.api import AUTH_ERRORS
from skybridge.server.history import CAPACITY, INTERVAL
from skybridge.server.lanes import AUTH_LANE
from skybridge.server.security import authorize, bearer, current_session, require_token
from skybridge.server.series import legend
from skybridge.server.state import ServiceState, service_state

#: The longest window a request may ask for: everything the history keeps by default.
MAX_WINDOW = int(CAPACITY * INTERVAL)
Selector = Annotated[str, StringConstraints(min_length=1, max_length=200)]


async def token_or_session(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller: a bearer token, else the dashboard session; 401 with neither."""
    if credentials is not None:
        return await require_token(request, credentials)
    session = await AUTH_LANE.run(current_session, request)
    if session is None:
        raise HTTPException(
            401,
            "missing API token: send 'Authorization: Bearer <token>', or sign in to the dashboard",
            headers={"WWW-Authenticate": "Bearer"},
        )
    authorize(request, session.principal)
    return session.principal


router = APIRouter(
    prefix="/api", dependencies=[Depends(token_or_session)], responses=AUTH_ERRORS, tags=["service"]
)


class SeriesOut(BaseModel):
    key: str = Field(description="metric or metric:label, e.g. records_per_s:secretsync")
    metric: str = Field(description="One of: " + ", ".join(SERIES_METRICS))
    label: str = Field(description="The pipeline, app or group/topic; empty for service-wide")
    name: str = Field(description="How charts name the series")
    unit: str
    values: list[float | None] = Field(description="One per time in `t`; null: no value")


class HistoryOut(BaseModel):
    interval: float = Field(description="Seconds between samples")
    window: int = Field(description="Seconds of history asked for")
    t: list[float] = Field(description="Sample times, Unix seconds, oldest first")
    series: list[SeriesOut]


def _series(key: str, values: list[float | None]) -> SeriesOut:
    metric, _, label = key.partition(":")
    rounded = [None if v is None else round(v, 3) for v in values]
    unit = SERIES_METRICS.get(metric, "")
    return SeriesOut(
        key=key, metric=metric, label=label, name=legend(key), unit=unit, values=rounded
    )


@router.get(
    "/metrics/history",
    response_model=HistoryOut,
    summary="Throughput, latency and lag over time (the dashboard's charts)",
    dependencies=[requires("service:read")],
)
def metrics_history(
    state: Annotated[ServiceState, Depends(service_state)],
    series: Annotated[
        list[Selector],
        Query(max_length=20, description="Series keys or selectors; none: every series"),
    ] = [],  # noqa: B006 - FastAPI copies query defaults
    window: Annotated[int, Query(ge=60, le=MAX_WINDOW, description="Seconds, newest last")] = 900,
) -> HistoryOut:
    found = state.history.window(window, series)
    return HistoryOut(
        interval=state.history.interval,
        window=window,
        t=[round(t, 3) for t in found.times],
        series=[_series(key, values) for key, values in found.series.items()],
    )


document_scopes(router)
