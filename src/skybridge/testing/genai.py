"""A local test server for the model APIs skybridge calls over HTTP, on 127.0.0.1.

It speaks the documented request and response shapes of:

* OpenAI-compatible ``POST /v1/embeddings`` and ``POST /v1/chat/completions``;
* Amazon Bedrock runtime ``POST /model/{modelId}/invoke`` (Titan v2 and Cohere v3 embeddings)
  and ``POST /model/{modelId}/converse`` (the Converse API);
* OCI Generative AI ``POST /20231130/actions/embedText`` and ``POST /20231130/actions/chat``.

Embeddings are a deterministic function of the text (hashed word features, unit length), so
equal texts get equal vectors and texts sharing words are near. Chat answers repeat the first
sentence of the first numbered passage in the prompt with its ``[1]`` marker. Every request is
recorded (``server.requests``), and ``server.fail_next(status, times)`` injects errors::

    with GenAiServer() as server:
        connect(f"openai+http://127.0.0.1:{server.port}/v1?model=m")
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

DIMENSION = 64
_WORD = re.compile(r"\w+")
_PASSAGE = re.compile(r"\[1\][^\n]*\n?(.*?)(?:\n\[2\]|\n\n|$)", re.S)


def hashed_vector(text: str, dimension: int = DIMENSION) -> list[float]:
    """A unit vector of ``text``'s hashed lower-case words."""
    vector = np.zeros(dimension, dtype=np.float64)
    for word in _WORD.findall(text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dimension] += 1.0 if digest[4] % 2 else -1.0
    if not vector.any():
        vector[0] = 1.0
    return [float(x) for x in vector / np.linalg.norm(vector)]


def cited_reply(prompt: str) -> str:
    """The first sentence of passage ``[1]`` in ``prompt``, with its marker."""
    found = _PASSAGE.search(prompt)
    passage = (found.group(1) if found else "").strip()
    sentence = re.split(r"(?<=[.!?])\s", passage, maxsplit=1)[0] if passage else "I do not know."
    return f"{sentence} [1]"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = field(repr=False)


class GenAiServer:
    """The server; use as a context manager (it stops on exit)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._faults: list[int] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else {}
                server.requests.append(Recorded("POST", self.path, dict(self.headers), body))
                status, answer = server.answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if status == 429:
                    self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> GenAiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status``."""
        with self._lock:
            self._faults += [status] * times

    def answer(self, path: str, body: Any) -> tuple[int, Any]:
        with self._lock:
            if self._faults:
                status = self._faults.pop(0)
                return status, {"error": {"message": f"injected {status}"}}
        route = path.split("?")[0]
        if route.endswith("/embeddings"):
            return 200, _openai_embeddings(body)
        if route.endswith("/chat/completions"):
            return 200, _openai_chat(body)
        if route.startswith("/model/") and route.endswith("/invoke"):
            return _bedrock_invoke(route.split("/")[2], body)
        if route.startswith("/model/") and route.endswith("/converse"):
            return 200, _bedrock_converse(body)
        if route.endswith("/actions/embedText"):
            return 200, _oci_embed(body)
        if route.endswith("/actions/chat"):
            return 200, _oci_chat(body)
        return 404, {"error": {"message": f"no route {route}"}}


def _openai_embeddings(body: dict[str, Any]) -> dict[str, Any]:
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    size = int(body.get("dimensions") or DIMENSION)
    data = [
        {"object": "embedding", "index": i, "embedding": hashed_vector(t, size)}
        for i, t in enumerate(texts)
    ]
    return {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }


def _openai_chat(body: dict[str, Any]) -> dict[str, Any]:
    prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
    message = {"role": "assistant", "content": cited_reply(prompt)}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }


def _bedrock_invoke(model: str, body: dict[str, Any]) -> tuple[int, Any]:
    if "cohere.embed" in model:
        if body.get("truncate") != "NONE":
            return 400, {"message": "expected truncate NONE"}
        return 200, {
            "id": "x",
            "embeddings": [hashed_vector(t) for t in body["texts"]],
            "texts": body["texts"],
            "response_type": "embeddings_floats",
        }
    return 200, {
        "embedding": hashed_vector(body["inputText"], int(body.get("dimensions", 64))),
        "inputTextTokenCount": len(body["inputText"].split()),
    }


def _bedrock_converse(body: dict[str, Any]) -> dict[str, Any]:
    prompt = "\n".join(c.get("text", "") for m in body["messages"] for c in m["content"])
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": cited_reply(prompt)}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "metrics": {"latencyMs": 1},
    }


def _oci_embed(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "x",
        "embeddings": [hashed_vector(t) for t in body["inputs"]],
        "modelId": body["servingMode"]["modelId"],
        "modelVersion": "1",
    }


def _oci_chat(body: dict[str, Any]) -> dict[str, Any]:
    request = body["chatRequest"]
    prompt = "\n".join(c.get("text", "") for m in request["messages"] for c in m["content"])
    choice = {
        "index": 0,
        "finishReason": "stop",
        "message": {
            "role": "ASSISTANT",
            "content": [{"type": "TEXT", "text": cited_reply(prompt)}],
        },
    }
    return {
        "modelId": body["servingMode"]["modelId"],
        "modelVersion": "1",
        "chatResponse": {
            "apiFormat": "GENERIC",
            "timeCreated": "2026-01-01T00:00:00Z",
            "choices": [choice],
        },
    }
