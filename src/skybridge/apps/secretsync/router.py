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

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool, model_validator

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.errors import error_responses
from skybridge.apps.kit.limits import list_or_all
from skybridge.apps.kit.paging import PAGED, page_headers
from skybridge.apps.secretsync.actions import MAX_NAMES, ReconcileRequest, ReplayRequest
from skybridge.apps.secretsync.letters import list_letters, replay_letters
from skybridge.apps.secretsync.service import Context, SecretSyncService, open_service
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


def build_router(ctx: Context) -> APIRouter:
    """The routes, on the app's table and kv."""
    router = APIRouter()

    @contextmanager
    def opened() -> Iterator[SecretSyncService]:
        try:
            with open_service(ctx) as svc:
                yield svc
        except SkybridgeError as exc:
            if getattr(exc, "setting", None) == "secretsync.mappings":
                raise NoTable(exc.message, hint=exc.hint) from None
            raise

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
        responses=BAD_BODY,
        dependencies=[requires("secretsync:reconcile")],
    )
    def reconcile(body: ReconcileRequest | None = None) -> dict[str, Any]:
        """Plan (``dry_run``, the default; also with no body) or run a reconcile; the report
        lists each action."""
        body = body or ReconcileRequest()
        with opened() as svc:
            known(svc, body.mappings or [])
            return svc.engine.reconcile(
                dry_run=body.dry_run, mappings=body.mappings, full=body.full
            ).to_dict()

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
