"""``opensearch+https://host:443`` (or ``opensearch+http://``): OpenSearch k-NN indexes.

One index per collection (``<prefix>-<name>``) with the k-NN mapping of the original article
(HNSW, ``m`` 16, ``ef_construction`` 512), on the ``faiss`` engine by default (``?engine=lucene``
also works; the article's ``nmslib`` cannot filter inside the search). Queries put the metadata
filter *inside* the ``knn`` clause (efficient filtering), so a filtered query returns ``k`` hits
whenever ``k`` match, unlike a ``bool`` filter around ``knn``, which filters the ``k`` found.
Collections' shape, properties, revision and generation (a new uuid each time a collection is
made; empty for one made before generations were recorded) live in the ``<prefix>--collections``
index. There is no change feed (:meth:`~VectorStore.changes` answers ``None``).

Credentials: ``user:password@`` in the URL (basic auth), or ``?aws_region=R`` to sign with
SigV4 (``?aws_service=aoss`` for OpenSearch Serverless; credentials from boto3's chain).
Options: ``prefix`` (``vectors``), ``engine`` (``faiss``), ``ef_search`` (100), ``timeout``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar, Self

import numpy as np
from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import (
    ConflictError,
    ConnectionError,
    ConnectionTimeout,
    NotFoundError,
    OpenSearchException,
    RequestError,
    TransportError,
)

from skybridge.backends.vectors.base import (
    CollectionInfo,
    Match,
    Metric,
    Vector,
    VectorRecord,
    VectorStore,
)
from skybridge.backends.vectors.filters import Filter
from skybridge.backends.vectors.opensearch_query import (
    index_body,
    our_score,
    query_filter,
    typed_fields,
)
from skybridge.core.errors import (
    ConfigError,
    Conflict,
    NotFound,
    SkybridgeError,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.core.urls import BackendURL, mask_url

_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_OPTIONS = ("prefix", "engine", "ef_search", "timeout", "aws_region", "aws_service")


def translate(exc: Exception, where: str) -> SkybridgeError:
    """OpenSearch client errors as skybridge errors."""
    if isinstance(exc, ConnectionTimeout | ConnectionError):
        return TransientError(f"OpenSearch at {where} unreachable: {type(exc).__name__}")
    if isinstance(exc, NotFoundError):
        return NotFound(f"OpenSearch at {where}: {exc.error}")
    if isinstance(exc, ConflictError):
        return Conflict(f"OpenSearch at {where}: {exc.error}")
    if isinstance(exc, RequestError):
        return ValidationError(f"OpenSearch at {where} refused the request: {exc.error}")
    if isinstance(exc, TransportError) and str(exc.status_code) in ("429", "502", "503", "504"):
        return TransientError(f"OpenSearch at {where} answered {exc.status_code}")
    return TerminalError(f"OpenSearch at {where}: {type(exc).__name__}")


class OpenSearchVectorStore(VectorStore):
    """Collections as OpenSearch k-NN indexes with filters inside the k-NN search."""

    url_credentials = True

    capabilities: ClassVar[frozenset[str]] = frozenset({"filters", "persistent", "ann"})
    scheme: ClassVar[str] = "opensearch"

    def __init__(
        self,
        client: Any,
        *,
        where: str = "opensearch",
        prefix: str = "vectors",
        engine: str = "faiss",
        ef_search: int = 100,
    ) -> None:
        if not _PREFIX.match(prefix):
            raise ConfigError(f"opensearch prefix {prefix!r} must be lowercase letters, digits, _")
        if engine not in ("faiss", "lucene"):
            raise ConfigError(
                f"opensearch engine {engine!r}: use faiss or lucene (nmslib cannot filter)"
            )
        self.client = client
        self.where = where
        self.prefix = prefix
        self.engine = engine
        self.ef_search = ef_search
        self.registry = f"{prefix}--collections"

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        settings = {n: options.pop(n, url.params.get(n)) for n in _OPTIONS}
        client = options.pop("client", None)
        if options:
            raise ConfigError(f"unknown opensearch options: {', '.join(sorted(options))}")
        scheme = url.scheme.split("+", 1)[1] if "+" in url.scheme else "https"
        where = mask_url(f"{scheme}://{url.rest}")
        if client is None:
            client = _client(url, scheme, settings)
        return cls(
            client,
            where=where,
            prefix=settings["prefix"] or "vectors",
            engine=settings["engine"] or "faiss",
            ef_search=int(settings["ef_search"] or 100),
        )

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except OpenSearchException as exc:
            raise translate(exc, self.where) from None

    def ping(self) -> None:
        self._call("info")

    def _index(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    # -- collections --------------------------------------------------------------------------

    def _create(self, info: CollectionInfo) -> None:
        if not self._call_indices("exists", index=self.registry):
            self._call_indices(
                "create",
                index=self.registry,
                body={"mappings": {"properties": {"name": {"type": "keyword"}}}},
            )
        record = {
            "name": info.name,
            "dimension": info.dimension,
            "metric": info.metric,
            "properties": info.properties,
            "revision": 0,
            "generation": uuid.uuid4().hex,
        }
        self._call("create", index=self.registry, id=info.name, body=record, refresh="wait_for")
        self._call_indices(
            "create",
            index=self._index(info.name),
            body=index_body(info.dimension, info.metric, self.engine, self.ef_search),
        )

    def _call_indices(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client.indices, method)(**kwargs)
        except OpenSearchException as exc:
            raise translate(exc, self.where) from None

    def _describe(self, name: str) -> CollectionInfo | None:
        try:
            found = self.client.get(index=self.registry, id=name)
        except NotFoundError:
            return None
        except OpenSearchException as exc:
            raise translate(exc, self.where) from None
        doc = found["_source"]
        counted = self._call("count", index=self._index(name))["count"]
        metric: Metric = doc["metric"]
        return CollectionInfo(
            name,
            doc["dimension"],
            metric,
            doc.get("properties", {}),
            counted,
            doc.get("revision", 0),
            doc.get("generation", ""),
        )

    def _names(self) -> list[str]:
        if not self._call_indices("exists", index=self.registry):
            return []
        found = self._call(
            "search",
            index=self.registry,
            body={"size": 1000, "sort": [{"name": "asc"}], "_source": ["name"]},
        )
        return [hit["_source"]["name"] for hit in found["hits"]["hits"]]

    def _drop(self, name: str) -> bool:
        try:
            self.client.delete(index=self.registry, id=name, refresh="wait_for")
        except NotFoundError:
            return False
        except OpenSearchException as exc:
            raise translate(exc, self.where) from None
        self._call_indices("delete", index=self._index(name), ignore_unavailable=True)
        return True

    def _set_properties(self, name: str, properties: dict[str, str]) -> None:
        self._call(
            "update",
            index=self.registry,
            id=name,
            refresh="wait_for",
            body={
                "script": {
                    "source": "ctx._source.properties = params.p; ctx._source.revision += 1",
                    "params": {"p": properties},
                }
            },
        )

    def _stamp(self, name: str) -> None:
        self._call(
            "update",
            index=self.registry,
            id=name,
            refresh="wait_for",
            body={"script": {"source": "ctx._source.revision += 1"}},
        )

    # -- records ------------------------------------------------------------------------------

    def _upsert(self, name: str, records: list[VectorRecord]) -> None:
        actions = [
            {
                "_op_type": "index",
                "_index": self._index(name),
                "_id": r.id,
                "_source": {
                    "rid": r.id,
                    "embedding": np.asarray(r.vector, np.float32).tolist(),
                    "metadata": r.metadata,
                    **typed_fields(r.metadata),
                },
            }
            for r in records
        ]
        self._bulk(actions)
        self._stamp(name)

    def _bulk(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            _, errors = helpers.bulk(self.client, actions, refresh="wait_for", raise_on_error=False)
        except OpenSearchException as exc:
            raise translate(exc, self.where) from None
        failed = [e for e in errors if next(iter(e.values())).get("status") != 404]
        if failed:
            raise TerminalError(f"OpenSearch at {self.where} refused {len(failed)} bulk actions")
        return errors  # type: ignore[no-any-return]

    def _delete(self, name: str, ids: list[str]) -> int:
        actions = [{"_op_type": "delete", "_index": self._index(name), "_id": i} for i in ids]
        missing = len(self._bulk(actions))
        self._stamp(name)
        return len(ids) - missing

    def _get(self, name: str, ids: list[str]) -> list[VectorRecord]:
        found = self._call("mget", index=self._index(name), body={"ids": ids})
        return [_record(doc["_source"], True) for doc in found["docs"] if doc.get("found")]

    def _scan(
        self, name: str, flt: Filter, after: str | None, limit: int, vectors: bool
    ) -> list[VectorRecord]:
        body: dict[str, Any] = {
            "size": limit,
            "query": query_filter(flt),
            "sort": [{"rid": "asc"}],
            "_source": ["rid", "metadata", *(["embedding"] if vectors else [])],
        }
        if after is not None:
            body["search_after"] = [after]
        found = self._call("search", index=self._index(name), body=body)
        return [_record(hit["_source"], vectors) for hit in found["hits"]["hits"]]

    def _count(self, name: str, flt: Filter) -> int:
        return int(
            self._call("count", index=self._index(name), body={"query": query_filter(flt)})["count"]
        )

    def _query(self, name: str, vector: Vector, k: int, flt: Filter) -> list[Match]:
        metric = self.collection(name).metric
        knn: dict[str, Any] = {"vector": vector.tolist(), "k": k}
        if flt:
            knn["filter"] = query_filter(flt)
        body = {"size": k, "query": {"knn": {"embedding": knn}}, "_source": ["rid", "metadata"]}
        found = self._call("search", index=self._index(name), body=body)
        return [
            Match(
                hit["_source"]["rid"],
                our_score(metric, float(hit["_score"])),
                dict(hit["_source"].get("metadata") or {}),
            )
            for hit in found["hits"]["hits"]
        ]


def _record(source: dict[str, Any], vectors: bool) -> VectorRecord:
    vector = (
        np.asarray(source["embedding"], dtype=np.float32)
        if vectors and "embedding" in source
        else None
    )
    return VectorRecord(source["rid"], vector, dict(source.get("metadata") or {}))


def _client(url: BackendURL, scheme: str, settings: dict[str, Any]) -> Any:
    from opensearchpy import RequestsHttpConnection

    kwargs: dict[str, Any] = {
        "hosts": [
            {
                "host": url.host or "localhost",
                "port": url.port or (443 if scheme == "https" else 9200),
            }
        ],
        "use_ssl": scheme == "https",
        "verify_certs": scheme == "https",
        "timeout": float(settings["timeout"] or 30),
        "connection_class": RequestsHttpConnection,
    }
    if url.username:
        kwargs["http_auth"] = (url.username, url.password or "")
    elif settings["aws_region"]:
        import boto3
        from opensearchpy import AWSV4SignerAuth

        credentials = boto3.Session().get_credentials()
        kwargs["http_auth"] = AWSV4SignerAuth(
            credentials, settings["aws_region"], settings["aws_service"] or "es"
        )
    return OpenSearch(**kwargs)
