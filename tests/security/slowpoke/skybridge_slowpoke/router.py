"""``/api/slowpoke``: ``GET /sleep`` blocks its worker thread; ``POST /upload`` takes 8 MiB."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.limits import BodyLimit, MiB


def build_router(ctx: Any) -> APIRouter:
    router = APIRouter()

    @router.get("/sleep", dependencies=[requires("slowpoke:sleep")])
    def sleep(seconds: Annotated[float, Query(ge=0, le=30)] = 1.0) -> dict[str, float]:
        """Hold a worker thread for ``seconds``, like a long database statement."""
        time.sleep(seconds)
        return {"slept": seconds}

    @router.post("/upload", dependencies=[requires("slowpoke:upload"), Depends(BodyLimit(8 * MiB))])
    async def upload(request: Request) -> dict[str, int]:
        """Count the bytes of a body of up to 8 MiB."""
        return {"bytes": len(await request.body())}

    return router
