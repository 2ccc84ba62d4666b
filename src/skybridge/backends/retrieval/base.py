"""The retrieval contract: managed knowledge bases that take a question's text and return passages.

A knowledge base service (Amazon Bedrock Knowledge Bases) embeds, indexes and searches documents
on its side: callers send the *text* of a query, never a vector, and documents reach the index
through the service's own sync (a data source and its ingestion jobs), not through this API. So
it is not a :class:`~skybridge.backends.vectors.VectorStore` (vector in, writes allowed) but a
family of its own: read-only by contract.

An implementation provides :meth:`KnowledgeBase._retrieve`; :meth:`KnowledgeBase.retrieve`
validates first (nothing is sent for bad input) and checks what comes back. Rules:

* At most ``k`` passages, best first (``score`` higher is better, as the service reports it).
* A metadata filter (the vectors family's :class:`~skybridge.backends.vectors.Filter`: ``eq``,
  ``in``, ranges) is pushed down to the service; one the service cannot express is refused with
  a :class:`ValidationError` saying what to change, never applied partially.
* Capabilities: ``filters`` (metadata filters pushed down), ``hybrid`` (the service can fuse
  keyword and vector search: ``search="hybrid"``). No implementation writes.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from skybridge.backends.vectors.filters import Filter
from skybridge.core.backend import Backend
from skybridge.core.errors import TerminalError, ValidationError
from skybridge.core.observability import observe_call

Search = Literal["default", "semantic", "hybrid"]
SEARCHES: tuple[Search, ...] = ("default", "semantic", "hybrid")


@dataclass(frozen=True)
class Retrieved:
    """One passage a knowledge base returned.

    Attributes:
        id: The passage's id in the service (a chunk id), stable between calls.
        text: The passage's text.
        score: The service's relevance score, higher is better.
        source: Where the passage's document lives (``s3://bucket/key``, a URL...).
        document: The document the passage belongs to (the source when the service names none).
        metadata: The document's metadata attributes as the service returned them.
    """

    id: str
    text: str
    score: float
    source: str = ""
    document: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "score": self.score,
            "source": self.source,
            "document": self.document,
            "metadata": dict(self.metadata),
        }


class KnowledgeBase(Backend):
    """A managed knowledge base searched by the text of a query (read-only)."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"filters"})
    scheme: ClassVar[str] = "retrieval"
    #: The most passages one call may ask for.
    max_k: ClassVar[int] = 100
    #: The longest query text the service takes.
    max_query_chars: ClassVar[int] = 20_000

    @abstractmethod
    def _retrieve(self, query: str, k: int, flt: Filter, search: Search) -> list[Retrieved]:
        """At most ``k`` passages for ``query`` matching ``flt``, best first."""

    def retrieve(
        self,
        query: str,
        *,
        k: int = 10,
        flt: Filter | Mapping[str, Any] | None = None,
        search: Search = "default",
    ) -> list[Retrieved]:
        """The ``k`` best passages for ``query`` among those matching ``flt``.

        Args:
            query: The question's text.
            k: How many passages at most (1 to :attr:`max_k`).
            flt: A metadata filter (dict form or :class:`Filter`), pushed down to the service.
            search: ``default`` (the service's choice), ``semantic`` (vectors only) or
                ``hybrid`` (keyword and vectors; needs the ``hybrid`` capability).

        Raises:
            ValidationError: an empty or too long query, a bad ``k``, ``search`` or filter.
            NotFound: the knowledge base does not exist.
            TransientError: the service throttled or failed; retry.
        """
        text = self._checked_query(query)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.max_k:
            raise ValidationError(f"k must be between 1 and {self.max_k}, got {k!r}")
        if search not in SEARCHES:
            raise ValidationError(f"search {search!r} is not one of {', '.join(SEARCHES)}")
        if search == "hybrid" and not self.supports("hybrid"):
            raise ValidationError(f"{self.scheme} has no hybrid search", hint="use semantic")
        parsed = Filter.parse(flt)
        if parsed and not self.supports("filters"):
            raise ValidationError(f"{self.scheme} cannot filter on metadata")
        with observe_call("retrieval", self.scheme, "retrieve"):
            found = self._retrieve(text, k, parsed, search)
        return _checked_results(found, k)

    def _checked_query(self, query: Any) -> str:
        if not isinstance(query, str) or not query.strip():
            raise ValidationError("the query is empty", hint="send the question's text")
        if len(query) > self.max_query_chars:
            raise ValidationError(
                f"the query is {len(query)} characters; the limit is {self.max_query_chars}"
            )
        return query.strip()


def _checked_results(found: list[Retrieved], k: int) -> list[Retrieved]:
    if len(found) > k:
        raise TerminalError(f"the knowledge base returned {len(found)} passages for k={k}")
    return sorted(found, key=lambda r: -r.score)
