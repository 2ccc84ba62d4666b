"""``bedrock-kb://KNOWLEDGEBASEID?region=us-east-1``: Amazon Bedrock Knowledge Bases ``Retrieve``.

One ``bedrock-agent-runtime`` ``Retrieve`` call per page (``numberOfResults`` up to 100,
``nextToken`` followed until ``k`` passages). Filters become Bedrock's ``RetrievalFilter``:
``eq`` -> ``equals``, ``in`` -> ``in``, number ranges -> ``greaterThan[OrEquals]`` /
``lessThan[OrEquals]``, several conditions -> ``andAll``. Bedrock compares numbers, text and
booleans: a text range (dates included) or a ``null`` value is refused, since Bedrock cannot
express it (store dates as numbers in the documents' ``.metadata.json`` to filter on them).
``search="hybrid"``/``"semantic"`` sets ``overrideSearchType`` (hybrid needs a vector store
that supports it, e.g. OpenSearch Serverless; Bedrock refuses otherwise).

Documents reach a knowledge base through its data source's ingestion jobs, so this backend
writes nothing. Options: ``region``, ``profile``, ``endpoint_url``, ``client``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar, Self

from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import boto3_client, classify_botocore, client_error_info
from skybridge.backends.retrieval.base import KnowledgeBase, Retrieved, Search
from skybridge.backends.vectors.filters import Eq, Filter, In, Range
from skybridge.core.errors import ConfigError, PermissionDenied, SkybridgeError, ValidationError
from skybridge.core.urls import BackendURL

KB_ID = re.compile(r"^[0-9a-zA-Z]{10}$")
CHUNK_ID = "x-amz-bedrock-kb-chunk-id"
SOURCE_URI = "x-amz-bedrock-kb-source-uri"
RANGES = {
    "gt": "greaterThan",
    "gte": "greaterThanOrEquals",
    "lt": "lessThan",
    "lte": "lessThanOrEquals",
}
LOCATION_FIELDS = ("uri", "url", "id", "query")


class BedrockKnowledgeBase(KnowledgeBase):
    """One Bedrock knowledge base, searched with ``Retrieve``."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"filters", "hybrid"})
    scheme: ClassVar[str] = "bedrock-kb"

    def __init__(self, client: Any, knowledge_base_id: str) -> None:
        if not KB_ID.match(knowledge_base_id):
            raise ConfigError(
                f"{knowledge_base_id!r} is not a Bedrock knowledge base id",
                setting="backends.retrieval",
                hint="use bedrock-kb://<10 letters and digits>?region=<region>",
            )
        self.client = client
        self.knowledge_base_id = knowledge_base_id

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        client = options.pop("client", None)
        settings = {
            name: options.pop(name, url.params.get(name))
            for name in ("region", "profile", "endpoint_url")
        }
        if options:
            raise ConfigError(f"unknown bedrock-kb options: {', '.join(sorted(options))}")
        if client is None:
            client = boto3_client("bedrock-agent-runtime", **settings, setting="backends.retrieval")
        return cls(client, url.rest.strip("/"))

    def ping(self) -> None:
        self.retrieve("ping", k=1)

    def _retrieve(self, query: str, k: int, flt: Filter, search: Search) -> list[Retrieved]:
        config: dict[str, Any] = {"numberOfResults": k}
        if flt:
            config["filter"] = bedrock_filter(flt)
        if search != "default":
            config["overrideSearchType"] = search.upper()
        request: dict[str, Any] = {
            "knowledgeBaseId": self.knowledge_base_id,
            "retrievalQuery": {"text": query},
            "retrievalConfiguration": {"vectorSearchConfiguration": config},
        }
        found: list[Retrieved] = []
        while len(found) < k:
            page = self._call(request)
            found.extend(passage(r) for r in page.get("retrievalResults", []))
            if not page.get("nextToken"):
                break
            request["nextToken"] = page["nextToken"]
        return found[:k]

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(self.client.retrieve(**request))
        except (BotoCoreError, ClientError) as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: BotoCoreError | ClientError) -> SkybridgeError:
        subject = f"knowledge base {self.knowledge_base_id}"
        if isinstance(exc, ClientError) and client_error_info(exc).code == "AccessDeniedException":
            return PermissionDenied(
                f"bedrock-agent-runtime denied Retrieve on {subject}: "
                f"{client_error_info(exc).message}",
                hint="the role needs bedrock:Retrieve on the knowledge base",
            )
        return classify_botocore(
            exc,
            service="bedrock-agent-runtime",
            subject=subject,
            not_found=frozenset({"ResourceNotFoundException"}),
            conflict=frozenset({"ConflictException"}),
            invalid=frozenset({"ValidationException"}),
            transient=frozenset({"DependencyFailedException", "BadGatewayException"}),
            setting="backends.retrieval",
        )


def bedrock_filter(flt: Filter) -> dict[str, Any]:
    """``flt`` as a Bedrock ``RetrievalFilter`` (conditions joined by ``andAll``)."""
    parts: list[dict[str, Any]] = []
    for condition in flt.conditions:
        if isinstance(condition, Eq):
            value = _value(condition.field, condition.value)
            parts.append({"equals": {"key": condition.field, "value": value}})
        elif isinstance(condition, In):
            values = [_value(condition.field, v) for v in condition.values]
            parts.append({"in": {"key": condition.field, "value": values}})
        else:
            parts.extend(_range(condition))
    return parts[0] if len(parts) == 1 else {"andAll": parts}


def _value(name: str, value: Any) -> Any:
    if value is None:
        raise ValidationError(
            f"filter on {name!r}: Bedrock knowledge bases cannot match null",
            hint="filter on a value the documents' metadata holds",
        )
    return value


def _range(condition: Range) -> list[dict[str, Any]]:
    if not condition.numeric:
        raise ValidationError(
            f"filter on {condition.field!r}: Bedrock knowledge bases compare numbers only in "
            "ranges (dates are text here)",
            hint="store the date as a number (e.g. 20240131 or epoch seconds) in the "
            "document's .metadata.json and filter on that",
        )
    return [
        {RANGES[op]: {"key": condition.field, "value": bound}} for op, bound in condition.bounds()
    ]


def passage(result: dict[str, Any]) -> Retrieved:
    """A ``retrievalResults`` item as a :class:`Retrieved`."""
    metadata = dict(result.get("metadata") or {})
    source = _location(result.get("location") or {}) or str(metadata.get(SOURCE_URI, ""))
    content = result.get("content") or {}
    text = str(content.get("text") or content.get("byteContent") or "")
    document = str(result.get("documentId") or source)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    rid = str(metadata.get(CHUNK_ID) or f"{document}#{digest}")
    return Retrieved(rid, text, float(result.get("score") or 0.0), source, document, metadata)


def _location(location: dict[str, Any]) -> str:
    for key, value in location.items():
        if key.endswith("Location") and isinstance(value, dict):
            for name in LOCATION_FIELDS:
                if value.get(name):
                    return str(value[name])
    return ""
