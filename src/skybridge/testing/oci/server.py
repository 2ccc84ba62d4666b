"""The HTTP face: a threaded stdlib server that authenticates, counts, injects faults and routes."""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from skybridge.core.observability import get_logger
from skybridge.testing.oci.errors import ApiError, not_found
from skybridge.testing.oci.faults import Faults
from skybridge.testing.oci.routing import Request, Response, Router, error_response
from skybridge.testing.oci.signing import SignatureVerifier

log = get_logger(__name__)


class Dispatcher:
    """Runs one request through authentication, accounting, faults and its operation."""

    def __init__(self, router: Router, verifier: SignatureVerifier | None, faults: Faults) -> None:
        self.router = router
        self.verifier = verifier
        self.faults = faults
        self.calls: Counter[str] = Counter()
        self.calls_lock = threading.Lock()
        self.state_lock = threading.RLock()

    def dispatch(self, request: Request) -> Response:
        try:
            response = self._run(request)
        except ApiError as error:
            response = error_response(error)
        except Exception:  # the emulator must answer, as the real service answers 500s
            log.error("oci emulator handler failed", error=traceback.format_exc())
            response = error_response(ApiError(500, "InternalServerError", "Internal error"))
        request_id = request.headers.get("opc-request-id") or uuid.uuid4().hex.upper()
        response.headers.setdefault("opc-request-id", request_id)
        return response

    def _run(self, request: Request) -> Response:
        found = self.router.match(request.method, request.path)
        if found is None:
            raise not_found(f"{request.method} {request.path}")
        route, request.params = found
        with self.calls_lock:
            self.calls[route.operation] += 1
        if self.verifier is not None:
            self.verifier.verify(
                request.method,
                request.target,
                request.headers,
                request.body,
                signs_body=route.signs_body,
            )
        pause = self.faults.take_delay(route.operation)
        if pause:
            time.sleep(pause)
        fault = self.faults.take_fault(route.operation)
        if fault is not None:
            raise fault
        with self.state_lock:
            return route.handler(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and "Expect: 100-continue" as the SDK sends it
    # Headers and body go out in separate writes; with Nagle on, the second waits for the
    # client's delayed ACK (about 40 ms per response on Linux).
    disable_nagle_algorithm = True
    server: _Server

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        headers = {key.lower(): value for key, value in self.headers.items()}
        request = Request(self.command, self.path, headers, body)
        response = self.server.dispatcher.dispatch(request)
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if "content-length" not in response.headers:
            self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.status not in (204, 304):
            self.wfile.write(response.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        pass  # requests are visible through emulator.calls; keep test output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        super().__init__(address, _Handler)


class HttpServer:
    """Serves a :class:`Dispatcher` on a background thread."""

    def __init__(self, host: str, port: int, dispatcher: Dispatcher) -> None:
        self._server = _Server((host, port), dispatcher)
        self._thread = threading.Thread(target=self._serve, name="oci-emulator", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)  # quick shutdown for short test sessions

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
