"""The OpenSearch k-NN store against OpenSearch's documented request and response shapes.

No OpenSearch server runs here (it needs a JVM and is not on PyPI or Debian), so the client is
given a connection that records each request and answers with the documented response shape;
the contract suite against a live server is a strict xfail that says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from opensearchpy import OpenSearch
from opensearchpy.connection import Connection

from skybridge.backends.vectors import VectorRecord, VectorStore, connect
from skybridge.core.errors import ConfigError, TransientError
from skybridge.testing.contracts.vectors import VectorsContract

Answer = Callable[[str, str, Any], tuple[int, Any]]
NO_SERVER = "no OpenSearch server runs on this machine (JVM service, not on PyPI or Debian)"


class Recorded(Connection):
    """Records requests; answers come from the test's ``answer`` function."""

    answer: Answer
    calls: list[tuple[str, str, Any]]

    def perform_request(
        self,
        method: str,
        url: str,
        params: Any = None,
        body: Any = None,
        timeout: Any = None,
        ignore: Any = (),
        headers: Any = None,
    ) -> Any:
        text = body.decode() if isinstance(body, bytes) else body
        parsed: Any = None
        if text:
            lines = [json.loads(line) for line in text.strip().splitlines()]
            parsed = lines[0] if len(lines) == 1 else lines
        self.calls.append((method, url, parsed))
        status, data = type(self).answer(method, url, parsed)
        if status >= 300 and status not in ignore:
            self._raise_error(status, json.dumps(data))
        return status, {}, json.dumps(data)


def store_with(answer: Answer) -> tuple[VectorStore, list[tuple[str, str, Any]]]:
    calls: list[tuple[str, str, Any]] = []
    connection = type("Conn", (Recorded,), {"answer": staticmethod(answer), "calls": calls})
    client = OpenSearch(
        hosts=[{"host": "search.example", "port": 443}], connection_class=connection, max_retries=0
    )
    return connect("opensearch+https://search.example:443", client=client), calls


REGISTRY_DOC = {
    "_index": "vectors--collections",
    "_id": "docs",
    "found": True,
    "_source": {
        "name": "docs",
        "dimension": 3,
        "metric": "cosine",
        "properties": {"model": "m"},
        "revision": 4,
    },
}


def documented(method: str, url: str, body: Any) -> tuple[int, Any]:
    if url == "/vectors--collections/_doc/docs":
        return 200, REGISTRY_DOC
    if url.endswith("/_count"):
        return 200, {"count": 2, "_shards": {"total": 1, "successful": 1, "failed": 0}}
    if url.endswith("/_search"):
        return 200, {
            "took": 3,
            "timed_out": False,
            "hits": {
                "total": {"value": 2, "relation": "eq"},
                "max_score": 0.975,
                "hits": [
                    {
                        "_index": "vectors-docs",
                        "_id": "a",
                        "_score": 0.975,
                        "_source": {"rid": "a", "metadata": {"team": "ops", "n": 1}},
                    },
                    {
                        "_index": "vectors-docs",
                        "_id": "b",
                        "_score": 0.5,
                        "_source": {"rid": "b", "metadata": {"team": "ops"}},
                    },
                ],
            },
        }
    if url == "/_bulk":
        items = [
            {
                "index": {
                    "_index": "vectors-docs",
                    "_id": line["index"]["_id"],
                    "status": 201,
                    "result": "created",
                }
            }
            for line in body
            if "index" in line
        ]
        items += [
            {
                "delete": {
                    "_index": "vectors-docs",
                    "_id": line["delete"]["_id"],
                    "status": 404 if line["delete"]["_id"] == "gone" else 200,
                    "result": "not_found" if line["delete"]["_id"] == "gone" else "deleted",
                }
            }
            for line in body
            if "delete" in line
        ]
        return 200, {
            "took": 5,
            "errors": any(i.get("delete", {}).get("status") == 404 for i in items),
            "items": items,
        }
    if "/_update/" in url:
        return 200, {"_index": "vectors--collections", "_id": "docs", "result": "updated"}
    if method == "HEAD":
        return 200, {}
    return 200, {"acknowledged": True, "result": "created"}


def test_collections_use_the_articles_knn_mapping() -> None:
    store, recorded = store_with(documented)
    store.create_collection("docs", 3, properties={"model": "m"})
    index = next(
        body for method, url, body in recorded if method == "PUT" and url == "/vectors-docs"
    )
    assert index["settings"]["index"]["knn"] is True
    embedding = index["mappings"]["properties"]["embedding"]
    assert embedding["type"] == "knn_vector"
    assert embedding["dimension"] == 3
    assert embedding["method"] == {
        "name": "hnsw",
        "space_type": "cosinesimil",
        "engine": "faiss",
        "parameters": {"ef_construction": 512, "m": 16},
    }


def test_filters_go_inside_the_knn_clause_and_scores_come_back_as_cosine() -> None:
    store, recorded = store_with(documented)
    found = store.query("docs", [1.0, 0.0, 0.0], k=2, flt={"team": "ops", "n": {"gte": 1}})
    method, url, body = recorded[-1]
    assert (method, url) == ("POST", "/vectors-docs/_search")
    knn = body["query"]["knn"]["embedding"]
    assert knn["k"] == 2
    assert knn["filter"] == {
        "bool": {"filter": [{"term": {"m_str.team": "ops"}}, {"range": {"m_num.n": {"gte": 1.0}}}]}
    }
    assert [m.id for m in found] == ["a", "b"]
    assert found[0].score == pytest.approx(0.95)
    assert found[0].metadata == {"team": "ops", "n": 1}


def test_upserts_index_typed_metadata_in_bulk() -> None:
    store, recorded = store_with(documented)
    store.upsert(
        "docs", [VectorRecord("a", [0.0, 1.0, 0.0], {"team": "ops", "n": 2, "ok": True, "x": None})]
    )
    bulk = next(body for _, url, body in recorded if url == "/_bulk")
    assert bulk[0] == {"index": {"_index": "vectors-docs", "_id": "a"}}
    assert bulk[1]["metadata"] == {"team": "ops", "n": 2, "ok": True, "x": None}
    assert (bulk[1]["m_str"], bulk[1]["m_num"], bulk[1]["m_bool"], bulk[1]["m_null"]) == (
        {"team": "ops"},
        {"n": 2.0},
        {"ok": True},
        ["x"],
    )
    assert store.delete("docs", ["a", "gone"]) == 1


def test_throttling_is_transient() -> None:
    def busy(method: str, url: str, body: Any) -> tuple[int, Any]:
        return 429, {"error": {"type": "es_rejected_execution_exception"}, "status": 429}

    store, _ = store_with(busy)
    with pytest.raises(TransientError):
        store.describe("docs")


def test_nmslib_is_refused_because_it_cannot_filter_inside_the_search() -> None:
    with pytest.raises(ConfigError, match="nmslib"):
        connect("opensearch+https://search.example?engine=nmslib", client=object())


@pytest.mark.xfail(strict=True, reason=NO_SERVER)
class TestOpenSearchLive(VectorsContract):
    @pytest.fixture
    def make_store(self) -> Any:
        store = connect("opensearch+http://127.0.0.1:9200")
        store.ping()
        return lambda: connect("opensearch+http://127.0.0.1:9200")
