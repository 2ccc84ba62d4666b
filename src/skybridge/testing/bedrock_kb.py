"""A local Amazon Bedrock Knowledge Bases ``Retrieve`` endpoint on 127.0.0.1, for tests.

It answers ``POST /knowledgebases/{knowledgeBaseId}/retrieve`` with the documented request and
response shapes (``bedrock-agent-runtime`` 2023-07-26) over the passages it was given: a
signed request (``AWS4-HMAC-SHA256``) is required, the ``RetrievalFilter`` operators are
evaluated as documented (``equals``, ``notEquals``, ``greaterThan[OrEquals]``,
``lessThan[OrEquals]``, ``in``, ``notIn``, ``startsWith``, ``stringContains``, ``listContains``,
``andAll``, ``orAll``), results come back best first with ``nextToken`` pages of ``page_size``,
and errors carry Bedrock's codes (``ResourceNotFoundException``, ``ValidationException``,
``ThrottlingException`` via ``fail_next``). Scores are the share of the query's words a passage
holds (a stand-in for Bedrock's vector similarity)::

    with KnowledgeBaseServer({"KBTEST0001": passages}) as server:
        connect(f"bedrock-kb://KBTEST0001?region=us-east-1&endpoint_url={server.url}")
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_WORD = re.compile(r"\w+")
_PATH = re.compile(r"^/knowledgebases/([^/]+)/retrieve$")
_COMPARE = {
    "greaterThan": lambda a, b: a > b,
    "greaterThanOrEquals": lambda a, b: a >= b,
    "lessThan": lambda a, b: a < b,
    "lessThanOrEquals": lambda a, b: a <= b,
}


@dataclass(frozen=True)
class StoredPassage:
    """A chunk of a synced document: its text, S3 location and metadata attributes."""

    chunk_id: str
    text: str
    uri: str
    metadata: dict[str, Any] = field(default_factory=dict)


class BadRequest(Exception):
    """A request Bedrock would refuse with ``ValidationException``."""


def matches(flt: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` passes a ``RetrievalFilter`` (exactly one operator per level)."""
    if len(flt) != 1:
        raise BadRequest("a RetrievalFilter sets exactly one operator")
    op, arg = next(iter(flt.items()))
    if op in ("andAll", "orAll"):
        if not isinstance(arg, list) or len(arg) < 2:
            raise BadRequest(f"{op} takes at least 2 filters")
        results = [matches(f, metadata) for f in arg]
        return all(results) if op == "andAll" else any(results)
    key, value = arg["key"], arg["value"]
    stored = metadata.get(key)
    if op == "equals":
        return key in metadata and _same(stored, value)
    if op == "notEquals":
        return not (key in metadata and _same(stored, value))
    if op in ("in", "notIn"):
        found = key in metadata and any(_same(stored, v) for v in value)
        return found if op == "in" else not found
    if op in _COMPARE:
        numbers = _number(stored) and _number(value)
        return bool(numbers and _COMPARE[op](stored, value))
    if op == "startsWith":
        return isinstance(stored, str) and stored.startswith(value)
    if op == "stringContains":
        return isinstance(stored, str) and value in stored
    if op == "listContains":
        return isinstance(stored, list) and value in stored
    raise BadRequest(f"unknown filter operator {op}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return stored is wanted
    return bool(stored == wanted)


def score(query: str, text: str) -> float:
    """The share of the query's distinct words found in ``text``."""
    wanted = set(_WORD.findall(query.lower()))
    held = set(_WORD.findall(text.lower()))
    return round(len(wanted & held) / len(wanted), 6) if wanted else 0.0


class KnowledgeBaseServer:
    """The endpoint; use as a context manager (it stops on exit)."""

    def __init__(
        self, bases: Mapping[str, Sequence[StoredPassage]], *, page_size: int = 100
    ) -> None:
        self.bases = {k: list(v) for k, v in bases.items()}
        self.page_size = page_size
        self.requests: list[dict[str, Any]] = []
        self._faults: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def fail_next(self, status: int, code: str, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` and error ``code``."""
        with self._lock:
            self._faults.extend([(status, code)] * times)

    def __enter__(self) -> KnowledgeBaseServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer(self, path: str, headers: Mapping[str, str], body: Any) -> tuple[int, Any, str]:
        """Status, JSON body and error code (``""`` on success) for one request."""
        with self._lock:
            self.requests.append({"path": path, "body": body})
            if self._faults:
                status, code = self._faults.pop(0)
                return status, {"message": f"injected {code}"}, code
        if not str(headers.get("authorization", "")).startswith("AWS4-HMAC-SHA256"):
            return 403, {"message": "missing SigV4 signature"}, "AccessDeniedException"
        found = _PATH.match(path)
        if found is None or found.group(1) not in self.bases:
            return 404, {"message": f"no knowledge base at {path}"}, "ResourceNotFoundException"
        try:
            return 200, self._retrieve(self.bases[found.group(1)], body), ""
        except (BadRequest, KeyError, TypeError, ValueError) as exc:
            return 400, {"message": f"invalid request: {exc}"}, "ValidationException"

    def _retrieve(self, passages: list[StoredPassage], body: Mapping[str, Any]) -> Any:
        query = body["retrievalQuery"]["text"]
        config = body.get("retrievalConfiguration", {}).get("vectorSearchConfiguration", {})
        wanted = int(config.get("numberOfResults", 5))
        if not 1 <= wanted <= 100:
            raise BadRequest("numberOfResults must be 1 to 100")
        flt = config.get("filter")
        kept = [p for p in passages if flt is None or matches(flt, p.metadata)]
        ranked = sorted(kept, key=lambda p: (-score(query, p.text), p.chunk_id))[:wanted]
        start = int(body.get("nextToken") or 0)
        page = ranked[start : start + self.page_size]
        out: dict[str, Any] = {"retrievalResults": [_result(query, p) for p in page]}
        if start + self.page_size < len(ranked):
            out["nextToken"] = str(start + self.page_size)
        return out

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer, code = server.answer(self.path, headers, json.loads(raw or b"{}"))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                if code:
                    self.send_header("x-amzn-errortype", code)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def _result(query: str, p: StoredPassage) -> dict[str, Any]:
    metadata = {
        **p.metadata,
        "x-amz-bedrock-kb-source-uri": p.uri,
        "x-amz-bedrock-kb-chunk-id": p.chunk_id,
        "x-amz-bedrock-kb-data-source-id": "DSTEST0001",
    }
    return {
        "content": {"type": "TEXT", "text": p.text},
        "location": {"type": "S3", "s3Location": {"uri": p.uri}},
        "metadata": metadata,
        "score": score(query, p.text),
    }
