"""A local model server for tests: one Python predictor behind the wire formats skybridge's
model backends speak, on 127.0.0.1.

* KServe Open Inference Protocol v2: ``GET /v2/models/<name>/ready``,
  ``POST /v2/models/<name>/infer`` (one 2-D input tensor, one output);
* SageMaker runtime ``InvokeEndpoint``: ``POST /endpoints/<name>/invocations`` with
  ``text/csv`` or ``application/json`` bodies, refused (403) unless SigV4-signed; and the
  control plane's ``DescribeEndpoint`` (``InService``), as boto3 sends them to an
  ``endpoint_url``.

::

    with ModelServer(lambda rows: [2 * a + 3 * b - 1 for a, b in rows]) as server:
        model = connect(f"{server.url}/v2/models/{server.name}?features=a,b")

``fail_next(status, times)`` answers the next requests with an error status (429, 503...).
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Predictor = Callable[[list[list[float | None]]], list[Any]]
_INFER = re.compile(r"^/v2/models/([^/]+)/infer$")
_READY = re.compile(r"^/v2/models/([^/]+)/ready$")
_INVOKE = re.compile(r"^/endpoints/([^/]+)/invocations$")


class ModelServer:
    """Serves ``predict`` as model ``name`` until :meth:`stop`."""

    def __init__(self, predict: Predictor, *, name: str = "reference") -> None:
        self.predict = predict
        self.name = name
        self.calls: list[tuple[str, str]] = []
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._faults += [status] * times

    def take_fault(self) -> int | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def start(self) -> ModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the wire formats ------------------------------------------------------------------

    def infer(self, body: dict[str, Any]) -> dict[str, Any]:
        tensor = body["inputs"][0]
        rows_count, width = tensor["shape"]
        data = tensor["data"]
        rows = [data[i * width : (i + 1) * width] for i in range(rows_count)]
        found = self.predict(rows)
        output = {"name": "output-0", "shape": [len(found)], "datatype": "FP64", "data": found}
        return {"model_name": self.name, "outputs": [output]}

    def invoke(self, content_type: str, body: bytes) -> tuple[str, bytes]:
        if content_type.startswith("text/csv"):
            lines = csv.reader(io.StringIO(body.decode()))
            rows = [[float(v) if v else None for v in line] for line in lines if line]
            answer = "\n".join(str(v) for v in self.predict(rows)) + "\n"
            return "text/csv", answer.encode()
        rows = json.loads(body)["instances"]
        return "application/json", json.dumps({"predictions": self.predict(rows)}).encode()


def _handler(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._answer(status, json.dumps({"error": message, "message": message}).encode())

        def do_GET(self) -> None:
            server.calls.append(("GET", self.path))
            found = _READY.match(self.path)
            if found and found.group(1) == server.name:
                self._answer(200, b"{}")
            else:
                self._error(404, f"no model at {self.path}")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            server.calls.append(("POST", self.path))
            fault = server.take_fault()
            if fault is not None:
                self._error(fault, "injected fault")
                return
            try:
                self._route(body)
            except (KeyError, ValueError, TypeError, IndexError) as exc:
                self._error(400, f"bad request: {type(exc).__name__}: {exc}")

        def _route(self, body: bytes) -> None:
            target = self.headers.get("x-amz-target", "")
            if self.path == "/" and target.endswith("DescribeEndpoint"):
                name = json.loads(body)["EndpointName"]
                if name != server.name:
                    self._answer(
                        400,
                        json.dumps(
                            {
                                "__type": "ValidationException",
                                "message": f"Could not find endpoint {name}.",
                            }
                        ).encode(),
                    )
                    return
                answer = {"EndpointName": name, "EndpointStatus": "InService"}
                self._answer(200, json.dumps(answer).encode(), "application/x-amz-json-1.1")
                return
            infer, invoke = _INFER.match(self.path), _INVOKE.match(self.path)
            found = infer or invoke
            name = found.group(1) if found else None
            if invoke and name != server.name:
                missing = {
                    "__type": "ValidationError",
                    "message": f"Endpoint {name} of account 000000000000 not found.",
                }
                self._answer(400, json.dumps(missing).encode(), "application/x-amz-json-1.1")
            elif name != server.name:
                self._error(404, f"no model at {self.path}")
            elif infer:
                self._answer(200, json.dumps(server.infer(json.loads(body))).encode())
            elif not self.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
                self._error(403, "InvokeEndpoint requests must be SigV4-signed")
            else:
                kind, payload = server.invoke(self.headers.get("content-type", ""), body)
                self._answer(200, payload, kind)

    return Handler
