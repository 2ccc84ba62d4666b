"""``/api/hello``: the counts, and greeting someone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.errors import error_responses
from skybridge_hello.greetings import Context, counts, greet


class GreetRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Who to greet")


class GreetResponse(BaseModel):
    message: str


def build_router(ctx: Context) -> APIRouter:
    router = APIRouter()

    @router.get("/counts", dependencies=[requires("hello:read")])
    def get_counts() -> dict[str, Any]:
        """Greetings counted so far, by name."""
        return counts(ctx)

    @router.post(
        "/greet",
        response_model=GreetResponse,
        responses=error_responses(e422="No name"),
        dependencies=[requires("hello:greet")],
    )
    def post_greet(body: GreetRequest) -> dict[str, str]:
        """Publish a greeting; the counter pipeline counts it."""
        return {"message": greet(ctx, body.name)}

    return router
