"""HTTP routes under ``/api/layers`` (mounted behind token auth by the service).

Builds run from the CLI (they download wheels and take minutes); over HTTP the builds' records
are read and the lifecycle is driven: publish a build, prune (a plan unless ``dry_run`` is
false), usage, rollouts. Errors: 404 unknown layer, build or rollout; 409 a rollout that is not
rolling; 422 a bad body or a build that must not ship.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.errors import error_responses, pattern_rule
from skybridge.apps.layers import api

READ = [requires("layers:read")]
UNKNOWN = error_responses(e404="No such layer, build or rollout")
BAD = {**UNKNOWN, **error_responses(e422="The body is malformed, or the build must not ship")}
ROLLOUT = {**BAD, **error_responses(e409="The rollout is not rolling")}
NAME = pattern_rule(api.NAME, api.NAME_RULE)


class BuildSummary(BaseModel):
    name: str
    runtime: str
    architecture: str
    digest: str
    zipped: int
    unzipped: int
    packages: int
    passed: bool
    problems: list[str]
    built_at: float


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer: str = Field(pattern=NAME, description="The layer whose newest build to publish")
    force: StrictBool = Field(default=False, description="Publish even a build with problems")


class PruneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer: str = Field(pattern=NAME)
    keep: int | None = Field(default=None, ge=1, le=1000, description="Default: [layers] keep")
    dry_run: StrictBool = Field(default=True, description="Only plan (the default); false deletes")


class RolloutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    function: str = Field(pattern=NAME)
    alias: str = Field(default="live", pattern=NAME)


def build_router(ctx: api.Context) -> APIRouter:
    """The routes, on the app's kv store and function platform."""
    router = APIRouter()

    @router.get("/builds", response_model=list[BuildSummary], dependencies=READ)
    def builds() -> list[dict[str, Any]]:
        """The newest build of every layer."""
        return [{**r, "packages": len(r["packages"])} for r in api.builds(ctx)]

    @router.get("/builds/{name}", responses=UNKNOWN, dependencies=READ)
    def build(name: str) -> dict[str, Any]:
        """The newest build of one layer: sizes, packages, smoke test, scan, cold start."""
        return api.latest(ctx, name)

    @router.get("/usage", dependencies=READ)
    def usage() -> list[dict[str, Any]]:
        """Every published layer version and the function versions that use it."""
        return api.usage(ctx)

    @router.get("/rollouts", dependencies=READ)
    def rollouts() -> list[dict[str, Any]]:
        """Every rollout with its weight and history."""
        return [r.to_dict() for r in api.list_rollouts(ctx)]

    @router.post("/publish", responses=BAD, dependencies=[requires("layers:publish")])
    def publish(body: PublishRequest) -> dict[str, Any]:
        """Publish the newest build (idempotent by digest; grants again)."""
        return api.publish(ctx, body.layer, force=body.force).to_dict()

    @router.post("/prune", responses=BAD, dependencies=[requires("layers:prune")])
    def prune(body: PruneRequest) -> dict[str, Any]:
        """Plan (default) or delete old versions no function uses."""
        return api.prune(ctx, body.layer, keep=body.keep, dry_run=body.dry_run).to_dict()

    @router.post("/rollouts/advance", responses=ROLLOUT, dependencies=[requires("layers:rollout")])
    def advance(body: RolloutRequest) -> dict[str, Any]:
        """Next step of a rollout, or a rollback when its alarm fires."""
        return api.advance_rollout(ctx, body.function, body.alias).to_dict()

    @router.post("/rollouts/rollback", responses=ROLLOUT, dependencies=[requires("layers:rollout")])
    def rollback(body: RolloutRequest) -> dict[str, Any]:
        """All traffic back to the version before the rollout."""
        return api.roll_back(ctx, body.function, body.alias).to_dict()

    return router
