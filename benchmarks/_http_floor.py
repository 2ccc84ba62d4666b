"""The machine's floor for an HTTP round trip: the smallest HTTP/1.1 keep-alive server asyncio
can make (no framework, no middleware, one fixed answer), in a process of its own, timed by the
same client as the service. Whatever tail it has is the machine's (scheduling, loopback), not
skybridge's.

Run: python benchmarks/_http_floor.py PORT   (serves until killed)
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read each request's head (and body, by its content-length) and send ``ANSWER``."""
    try:
        while head := await reader.readuntil(b"\r\n\r\n"):
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int) -> None:
    server = await asyncio.start_server(answer, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def floor_server() -> Iterator[str]:
    """This module's server in a subprocess: its base URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, str(port)])
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
