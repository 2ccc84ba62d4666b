"""HTTP routes under ``/api/datasync`` (mounted behind token auth by the service).

Responses carry table, batch and step names, versions, counts and times, never row values
other than keys in dead-letter ids. Errors: 404 unknown batch, 409 a batch another run is
running (the scheduled job's or another request's, in this process or another), 422 a
malformed body or an invalid change (the message names the column), 503 a store that cannot
be reached.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from skybridge.apps.datasync.batchrecord import STEPS
from skybridge.apps.datasync.service import Context, DataSync, effective_config
from skybridge.apps.datasync.views import batch_view, list_view, status_view
from skybridge.apps.kit.access import requires
from skybridge.apps.kit.errors import error_responses, pattern_rule
from skybridge.apps.kit.limits import BodyLimit, MiB, list_or_all
from skybridge.apps.kit.paging import PAGED, page_headers
from skybridge.core.errors import parse_item

MAX_CHANGES = 10_000
#: A dead letter's id, as GET /dlq lists it.
LETTER_ID = pattern_rule(r"^\d+:\d+$", "a dead letter id, PARTITION:OFFSET, as GET /dlq lists")
#: Room for MAX_CHANGES changes of up to about 1.6 KB of JSON each.
CHANGES_BODY = Depends(BodyLimit(16 * MiB))
READ = [requires("datasync:read")]
BAD_BODY = error_responses(e422="The body is malformed; the message names what to fix")
UNKNOWN = error_responses(e404="No such batch or table")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="A declared batch sync")
    batch_id: str | None = Field(
        default=None,
        description="Resume this existing batch (404 when there is none); "
        "default: run the last window",
    )
    steps: list[str] = Field(default_factory=lambda: list(STEPS), min_length=1, max_length=4)

    @model_validator(mode="after")
    def _known_steps(self) -> RunRequest:
        if unknown := [s for s in self.steps if s not in STEPS]:
            raise ValueError(f"unknown steps {unknown}; steps are {', '.join(STEPS)}")
        return self


class ChangesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_CHANGES)


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(pattern=LETTER_ID)]] | None = Field(
        default=None, max_length=1000, description="Letter ids (partition:offset)"
    )
    all: StrictBool = False

    @model_validator(mode="after")
    def _one(self) -> ReplayRequest:
        list_or_all(self.ids, self.all, "ids")
        return self


def build_router(ctx: Context) -> APIRouter:
    """The routes, on the app's configured backends (opened per request)."""
    router = APIRouter()

    @router.get("/tables", dependencies=READ)
    def tables() -> dict[str, Any]:
        """Synced tables and declared batch syncs."""
        return list_view(effective_config(ctx))

    @router.get("/status", dependencies=READ)
    def status() -> dict[str, Any]:
        """Per table: rows, newest version, last commit, latency; consumer lag; dead letters;
        per batch sync: the window end it is synced through, the windows behind it and the
        batch it waits on; the batch job's last tick (``failed`` with its error)."""
        with DataSync.open(ctx) as sync:
            return status_view(sync)

    @router.get("/batches", responses=PAGED, dependencies=READ)
    def batches(
        request: Request, response: Response, limit: int = Query(default=50, ge=1, le=1000)
    ) -> list[dict[str, Any]]:
        """Batches, newest window first (``limit`` of them); ``X-Total-Count`` says how many
        there are."""
        with DataSync.open(ctx) as sync:
            records, total = sync.batches_and_total(limit)
        page_headers(request, response, total, len(records), next_link=False)
        return [batch_view(r) for r in records]

    @router.get("/batches/{batch_id}", responses=UNKNOWN, dependencies=READ)
    def batch(batch_id: str) -> dict[str, Any]:
        """One batch and each of its steps."""
        with DataSync.open(ctx) as sync:
            return batch_view(sync.batch(batch_id))

    @router.post(
        "/batches/run",
        responses={**BAD_BODY, **UNKNOWN, **error_responses(e409="Another run runs that batch")},
        dependencies=[requires("datasync:run")],
    )
    def run(body: RunRequest) -> dict[str, Any]:
        """Run the last window of a batch sync, or resume an existing batch; done steps are
        skipped."""
        with DataSync.open(ctx) as sync:
            sync.create_tables()
            return batch_view(sync.run_batch(body.name, batch=body.batch_id, steps=body.steps))

    @router.post(
        "/changes",
        responses=BAD_BODY,
        dependencies=[requires("datasync:publish"), CHANGES_BODY],
    )
    def publish(body: ChangesRequest) -> dict[str, int]:
        """Publish changes to the topic (all valid, or none is sent; an error names the first
        bad change by its position, ``changes[N]``)."""
        with DataSync.open(ctx) as sync:
            changes = [
                parse_item("changes", n, sync.change, doc) for n, doc in enumerate(body.changes)
            ]
            return {"published": sync.publish(changes)}

    @router.get("/sql/{table}", responses={**BAD_BODY, **UNKNOWN}, dependencies=READ)
    def sql(table: str, dialect: str = Query(default="oracle")) -> dict[str, str]:
        """The SQL datasync runs for ``table`` on ``dialect``."""
        with DataSync.open(ctx) as sync:
            return sync.sql(table, dialect)

    @router.get("/dlq", dependencies=READ)
    def dlq() -> list[dict[str, Any]]:
        """Dead-lettered change events, with the reason (never the event body)."""
        with DataSync.open(ctx) as sync:
            return [x.as_dict() for x in sync.dead_letters()]

    @router.post(
        "/dlq/replay",
        responses={**BAD_BODY, **error_responses(e404="No such dead letter")},
        dependencies=[requires("datasync:replay")],
    )
    def replay(body: ReplayRequest) -> dict[str, int]:
        """Republish dead letters to the topic."""
        with DataSync.open(ctx) as sync:
            return {"replayed": len(sync.replay(None if body.all else body.ids))}

    @router.post("/tables", dependencies=[requires("datasync:schema")])
    def create_tables() -> dict[str, list[str]]:
        """Create the missing target and staging tables."""
        with DataSync.open(ctx) as sync:
            return {"created": sync.create_tables()}

    return router
