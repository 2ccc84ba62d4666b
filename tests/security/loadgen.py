"""Load for the service, from a process of its own so the measuring process stays idle.

``python loadgen.py BASE_URL`` (token in ``$LOADGEN_TOKEN``): starts ``--long`` requests that
each hold a worker thread for ``--long-seconds``, prints ``LOADED`` once they are in, then sends
``--requests`` requests at ``--concurrency`` to other routes, and prints one JSON line with every
status (and ``Retry-After``) when all have answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import httpx

OTHER_ROUTES = [
    ("/api/whoami", True),
    ("/openapi.json", False),
    ("/docs", False),
    ("/login", False),
    ("/metrics", False),
    ("/static/style.css", False),
]


def _outcome(path: str, response: httpx.Response) -> dict[str, Any]:
    return {
        "path": path,
        "status": response.status_code,
        "retry_after": response.headers.get("retry-after"),
    }


async def _others(client: httpx.AsyncClient, auth: dict[str, str], args: Any) -> list[Any]:
    gate = asyncio.Semaphore(args.concurrency)

    async def one(index: int) -> dict[str, Any]:
        path, needs_token = OTHER_ROUTES[index % len(OTHER_ROUTES)]
        async with gate:
            response = await client.get(path, headers=auth if needs_token else {})
        return _outcome(path, response)

    return await asyncio.gather(*(one(i) for i in range(args.requests)))


async def run(args: Any) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {os.environ['LOADGEN_TOKEN']}"}
    limits = httpx.Limits(max_connections=args.long + args.concurrency + 10)
    async with httpx.AsyncClient(base_url=args.base, timeout=120, limits=limits) as client:
        path = f"/api/slowpoke/sleep?seconds={args.long_seconds}"
        long_calls = [asyncio.create_task(client.get(path, headers=auth)) for _ in range(args.long)]
        await asyncio.sleep(0.5)
        print("LOADED", flush=True)
        started = time.perf_counter()
        others = await _others(client, auth, args)
        others_seconds = time.perf_counter() - started
        longs = [_outcome(path, r) for r in await asyncio.gather(*long_calls)]
    return {"long": longs, "other": others, "other_seconds": round(others_seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--long", type=int, default=45)
    parser.add_argument("--long-seconds", type=float, default=5.0)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
