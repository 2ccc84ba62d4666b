"""HTTP routes under ``/api/secretsync`` (mounted behind token auth by the service).

No response ever holds a secret value: the engine's views carry names, version ids, times and
reasons only; dead letters are shown without the event body and audit records without the
payload hash. Errors: 404 unknown mapping or dead letter, 422 a malformed body (names the
field), 503 no mapping table configured or a store unreachable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.answers import ServiceJSONResponse
from skybridge.apps.kit.errors import ErrorBody, error_responses
from skybridge.apps.kit.limits import list_or_all
from skybridge.apps.kit.paging import PAGED, page_headers
from skybridge.apps.secretsync.actions import MAX_NAMES, ReconcileRequest, ReplayRequest
from skybridge.apps.secretsync.letters import list_letters, replay_letters
from skybridge.apps.secretsync.run_records import KEEP_RUNS
from skybridge.apps.secretsync.runs import ReconcileRuns, RunBusy, start_background
from skybridge.apps.secretsync.service import (
    Context,
    SecretSyncService,
    build_service,
    connect_state,
)
from skybridge.apps.secretsync.views import audit_view, mapping_view, status_views
from skybridge.core.errors import NotFound, SkybridgeError

T = TypeVar("T")


class MappingInfo(BaseModel):
    name: str
    source: str = Field(description="backend:secret (URL passwords masked)")
    target: str
    fields: list[str] | None = Field(description="JSON fields copied; null: the whole value")
    rename: dict[str, str]
    field_format: str
    binary: str
    deletion: str
    drift: str = Field(description="Drift policy: repair or report")
    adopt: bool
    description: str | None = None


class MappingStatusModel(BaseModel):
    name: str
    source: str
    target: str
    last_source_version: str | None
    target_version: str | None
    synced_at: float | None = Field(description="Unix time of the last write")
    lag_seconds: float | None = Field(description="Source write to target write")
    drift: str = Field(examples=["in-sync", "source-changed", "target-edited", "unknown"])
    last_error: str | None
    last_error_at: float | None
    dead_letters: int


class Outcome(BaseModel):
    mapping: str
    action: str = Field(examples=["created", "updated", "unchanged", "stale", "failed"])
    source_version: str | None = None
    target_version: str | None = None
    detail: str = ""
    letter_id: str | None = None


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mappings: list[str] | None = Field(
        default=None, max_length=MAX_NAMES, description="Mappings to sync"
    )
    all: StrictBool = Field(default=False, description="Sync every mapping")

    @model_validator(mode="after")
    def _one(self) -> SyncRequest:
        list_or_all(self.mappings, self.all, "mappings")
        return self


class SyncResponse(BaseModel):
    ok: bool = Field(description="Every mapping synced (or was already in sync)")
    outcomes: list[Outcome]


class Action(BaseModel):
    mapping: str
    action: str = Field(examples=["noop", "update", "repair", "report", "create", "refuse"])
    reason: str
    source_version: str | None = None
    recorded_version: str | None = None
    target_version: str | None = None
    writes: bool
    drift: str
    check: str = Field(default="", description="Why the target was read, or not")


class PlanModel(BaseModel):
    actions: list[Action]
    changes: int


class ReconcileResponse(BaseModel):
    dry_run: bool
    plan: PlanModel
    outcomes: list[Outcome]
    errors: list[Action]
    writes: int


class ReconcileBody(ReconcileRequest):
    background: StrictBool = Field(
        default=False,
        description="Run a dry run in the background too (a reconcile that writes always does)",
    )


class RunProgress(BaseModel):
    phase: str = Field(examples=["starting", "plan", "apply", "done"])
    done: int = Field(description="Mappings planned (phase plan) or applied (phase apply)")
    total: int


class RunSummary(BaseModel):
    mappings: int
    changes: int
    writes: int
    errors: int


class ReconcileRunModel(BaseModel):
    id: str = Field(examples=["20260107T101500123456Z-3fa9c2"])
    status: str = Field(examples=["running", "succeeded", "failed", "abandoned"])
    dry_run: bool
    full: bool
    mappings: list[str] | None = Field(description="The mappings asked for; null: all")
    trigger: str = Field(examples=["api", "page", "schedule", "cli"])
    started_at: float
    finished_at: float | None
    running_on: str = Field(description="The process that runs (or ran) it")
    progress: RunProgress
    summary: RunSummary | None = Field(description="Counts, once succeeded")
    error: str | None = Field(description="Why it failed or was abandoned")
    error_type: str | None = Field(examples=["TransientError", "Abandoned"])
    report: ReconcileResponse | None = Field(
        description="Once succeeded: the report a synchronous reconcile answers"
    )


class RunBusyBody(ErrorBody):
    run_id: str = Field(description="The run going now")


class Letter(BaseModel):
    id: str = Field(description="stream: partition:offset; kv: 20 hex characters")
    store: str = Field(examples=["stream", "kv"])
    mapping: str | None
    secret: str | None = Field(description="The secret the event names, when it names one")
    reason: str
    error_type: str
    attempts: int
    failed_at: float


class Replayed(BaseModel):
    id: str
    store: str
    ok: bool
    detail: str
    outcomes: list[Outcome]


class AuditEntry(BaseModel):
    at: float
    actor: str
    mapping: str
    action: str
    target: str
    source_version: str | None
    target_version: str | None
    reason: str


READ = [requires("secretsync:read")]
#: Mappings per page of ``GET /status``.
STATUS_PAGE = 1000
UNAVAILABLE = error_responses(e503="No mapping table is configured, or a store is unreachable")
UNKNOWN = {**error_responses(e404="No mapping (or dead letter) has this name"), **UNAVAILABLE}
BAD_BODY = {**error_responses(e422="The body is malformed; the message names the field"), **UNKNOWN}


class NoTable(SkybridgeError):
    http_status = 503


RUNNING: dict[int | str, dict[str, Any]] = {
    202: {
        "model": ReconcileRunModel,
        "description": "Started in the background: Location names the run to poll",
    },
    409: {"model": RunBusyBody, "description": "Another reconcile run is going (run_id)"},
}


def run_location(run_id: str) -> str:
    return f"/api/secretsync/reconcile/{run_id}"


def busy_response(busy: RunBusy) -> JSONResponse:
    """409 naming the run going now (``run_id``, and ``Location``)."""
    body = RunBusyBody(error="RunBusy", message=busy.message, hint=busy.hint, run_id=busy.run_id)
    return ServiceJSONResponse(
        body.model_dump(exclude_none=True),
        status_code=409,
        headers={"Location": run_location(busy.run_id)},
    )


def _translated(ctx: Context) -> SecretSyncService:
    """The service, with a missing or invalid table as :class:`NoTable` (503)."""
    try:
        return build_service(ctx)
    except SkybridgeError as exc:
        if getattr(exc, "setting", None) == "secretsync.mappings":
            raise NoTable(exc.message, hint=exc.hint) from None
        raise


def build_router(ctx: Context) -> APIRouter:
    """The routes, on the app's table and kv."""
    router = APIRouter()

    @contextmanager
    def opened() -> Iterator[SecretSyncService]:
        svc = _translated(ctx)
        try:
            yield svc
        finally:
            svc.close()

    def run(fn: Callable[[SecretSyncService], T]) -> T:
        with opened() as svc:
            return fn(svc)

    def known(svc: SecretSyncService, names: list[str]) -> None:
        have = {m.name for m in svc.engine.mappings}
        missing = [n for n in names if n not in have]
        if missing:
            raise NotFound(f"no mapping called {', '.join(missing[:20])}")

    @router.get(
        "/mappings", response_model=list[MappingInfo], responses=UNAVAILABLE, dependencies=READ
    )
    def mappings() -> list[dict[str, Any]]:
        """The mappings of the configured table."""
        return run(lambda svc: [mapping_view(m) for m in svc.engine.mappings])

    @router.get(
        "/status",
        response_model=list[MappingStatusModel],
        responses={**UNAVAILABLE, **PAGED},
        dependencies=READ,
    )
    def status(
        request: Request,
        response: Response,
        limit: int = Query(default=STATUS_PAGE, ge=1, le=STATUS_PAGE),
        offset: int = Query(default=0, ge=0, le=1_000_000_000),
    ) -> list[dict[str, Any]]:
        """Per mapping, in the table's order: last synced version, lag, drift, last error,
        dead letters (``limit`` after ``offset``; ``X-Total-Count`` says how many mappings
        there are, ``Link`` (rel next) names the next page when there is one)."""
        every = run(status_views)
        page = every[offset : offset + limit]
        page_headers(request, response, len(every), offset + len(page))
        return page

    @router.post(
        "/sync",
        response_model=SyncResponse,
        responses=BAD_BODY,
        dependencies=[requires("secretsync:sync")],
    )
    def sync(body: SyncRequest) -> dict[str, Any]:
        """Sync mappings to their source's current version now."""
        with opened() as svc:
            names = [m.name for m in svc.engine.mappings] if body.all else list(body.mappings or [])
            known(svc, names)
            outcomes = [_sync_one(svc, n) for n in names]
        bad = {"failed", "dead-lettered"}
        return {"ok": not any(o["action"] in bad for o in outcomes), "outcomes": outcomes}

    @router.post(
        "/reconcile",
        response_model=ReconcileResponse,
        responses={**BAD_BODY, **RUNNING},
        dependencies=[requires("secretsync:reconcile")],
    )
    def reconcile(body: ReconcileBody | None = None) -> Any:
        """A dry run (the default; also with no body) answers its plan at once. A reconcile
        that writes (``dry_run: false``), or a dry run with ``background: true``, starts a run
        in the background and answers 202 with the run, ``Location`` naming where to follow
        it; 409 (``run_id``) while another run is going."""
        body = body or ReconcileBody()
        if body.dry_run and not body.background:
            with opened() as svc:
                known(svc, body.mappings or [])
                return svc.engine.reconcile(
                    dry_run=True, mappings=body.mappings, full=body.full
                ).to_dict()
        svc = _translated(ctx)
        try:
            known(svc, body.mappings or [])
            started = start_background(
                svc, dry_run=body.dry_run, full=body.full, mappings=body.mappings, trigger="api"
            )
        except RunBusy as busy:
            svc.close()
            return busy_response(busy)
        except BaseException:
            svc.close()
            raise
        return ServiceJSONResponse(
            started.run.view(),
            status_code=202,
            headers={"Location": run_location(started.run.id)},
        )

    @router.get(
        "/reconcile",
        response_model=list[ReconcileRunModel],
        responses=UNAVAILABLE,
        dependencies=READ,
    )
    def reconcile_runs(
        limit: int = Query(default=KEEP_RUNS, ge=1, le=KEEP_RUNS),
    ) -> list[dict[str, Any]]:
        """The kept reconcile runs (the last 20), newest first, without their reports."""
        with connect_state(ctx) as state:
            return [run.view() for run in ReconcileRuns(state).recent(limit)]

    @router.get(
        "/reconcile/{run_id}",
        response_model=ReconcileRunModel,
        responses=error_responses(e404="No kept run has this id", e503="The kv store is down"),
        dependencies=READ,
    )
    def reconcile_run(run_id: str = Path(max_length=64)) -> dict[str, Any]:
        """One reconcile run: status (``running``, ``succeeded``, ``failed`` or
        ``abandoned``), times, progress, and once succeeded the report."""
        with connect_state(ctx) as state:
            runs = ReconcileRuns(state)
            return runs.view(runs.get(run_id))

    @router.get("/dlq", response_model=list[Letter], responses=UNAVAILABLE, dependencies=READ)
    def dlq() -> list[dict[str, Any]]:
        """Pending dead letters, oldest first (never the event body)."""
        return run(lambda svc: [x.to_dict() for x in list_letters(svc)])

    @router.post(
        "/dlq/replay",
        response_model=list[Replayed],
        responses=BAD_BODY,
        dependencies=[requires("secretsync:replay")],
    )
    def replay(body: ReplayRequest) -> list[dict[str, Any]]:
        """Replay dead letters (sync their events now); those that succeed are done."""
        ids = None if body.all else list(body.ids or [])
        return run(lambda svc: [r.to_dict() for r in replay_letters(svc, ids)])

    @router.get("/audit", response_model=list[AuditEntry], responses=UNKNOWN, dependencies=READ)
    def audit(
        mapping: str | None = None, limit: int = Query(default=100, ge=1, le=10_000)
    ) -> list[dict[str, Any]]:
        """Writes to targets, newest first (never values or hashes)."""
        with opened() as svc:
            if mapping is not None:
                known(svc, [mapping])
            return [audit_view(r) for r in svc.engine.audit_log(mapping, limit)]

    return router


def _sync_one(svc: SecretSyncService, name: str) -> dict[str, Any]:
    try:
        return svc.engine.sync_mapping(name).to_dict()
    except SkybridgeError as exc:
        return {"mapping": name, "action": "failed", "detail": str(exc)}
