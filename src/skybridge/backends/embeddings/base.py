"""The embeddings contract: texts in, float32 vectors out, never a silently truncated text.

An implementation provides :meth:`Embedder._embed` (a batch of texts that fit the model's
window) and says how it counts tokens; :class:`Embedder` derives the rest:

* :meth:`Embedder.embed` refuses a text longer than ``max_tokens`` with a
  :class:`ValidationError` naming it (split it first: :meth:`token_spans` gives the cut points),
  batches the rest and returns unit-length vectors for ``normalized`` models.
* :attr:`Embedder.fingerprint` names the model *and its behaviour*: provider, model, dimension
  and a hash of the vector of a fixed probe text. Stored with an index, it tells a swapped
  model apart even when the dimension is the same.
* Stores without the model's tokenizer (HTTP providers) count tokens by a conservative rule
  (a token per 4 letters of a word, per punctuation mark), which over-counts English text.
"""

from __future__ import annotations

import hashlib
import re
import time
from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt
from prometheus_client import Histogram

from skybridge.core.backend import Backend
from skybridge.core.errors import ValidationError
from skybridge.core.observability import METRICS, observe_call

Kind = Literal["document", "query"]
Matrix = npt.NDArray[np.float32]
PROBE_TEXT = "skybridge embedding fingerprint probe: the quick brown fox jumps over the lazy dog."
_HEURISTIC_TOKEN = re.compile(r"\w{1,4}|[^\w\s]", re.UNICODE)

EMBED_SECONDS = Histogram(
    "skybridge_embedding_seconds",
    "Time to embed one batch of texts, by provider.",
    ["provider"],
    registry=METRICS,
)


class Embedder(Backend):
    """A text embedding model."""

    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: The provider's short name (``local``, ``openai``, ``bedrock``, ``oci-genai``).
    provider: ClassVar[str] = "embeddings"

    def __init__(self, model: str, *, max_tokens: int, batch_size: int = 32) -> None:
        self.model = model
        self._max_tokens = max_tokens
        self.batch_size = max(1, batch_size)
        self._fingerprint: str | None = None
        self._dimension: int | None = None

    # -- primitives ---------------------------------------------------------------------------

    @abstractmethod
    def _embed(self, texts: list[str], kind: Kind) -> Matrix:
        """Vectors for ``texts`` (each within the window), one row per text."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens the model reads in ``text`` (special tokens left out).

        The default is the conservative rule; models with their tokenizer override it.
        """
        return [m.span() for m in _HEURISTIC_TOKEN.finditer(text)]

    #: Whether vectors come out with unit length (else :meth:`embed` normalises them).
    normalized: ClassVar[bool] = True

    # -- derived ------------------------------------------------------------------------------

    @property
    def max_tokens(self) -> int:
        """The model's window: the most tokens of one text it reads."""
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        """How many tokens of the window ``text`` uses."""
        return len(self.token_spans(text))

    @property
    def dimension(self) -> int:
        """Length of the vectors (found by embedding the probe text once)."""
        if self._dimension is None:
            self._dimension = int(self.embed([PROBE_TEXT])[0].shape[0])
        return self._dimension

    @property
    def fingerprint(self) -> str:
        """``provider:model:dimension:probe-hash``: changes when the model's output changes."""
        if self._fingerprint is None:
            probe = self.embed([PROBE_TEXT])[0]
            self._dimension = int(probe.shape[0])
            digest = hashlib.sha256(np.round(probe, 3).astype(np.float32).tobytes()).hexdigest()
            self._fingerprint = f"{self.provider}:{self.model}:{self._dimension}:{digest[:16]}"
        return self._fingerprint

    def embed(self, texts: Sequence[str], *, kind: Kind = "document") -> Matrix:
        """Unit-length vectors for ``texts``, one row each, in order.

        Raises:
            ValidationError: a text is empty, not text, or longer than the model's window.
        """
        batch = list(texts)
        for n, text in enumerate(batch):
            self._check(n, text)
        if not batch:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        parts = [
            self._timed(batch[s : s + self.batch_size], kind)
            for s in range(0, len(batch), self.batch_size)
        ]
        vectors = np.vstack(parts).astype(np.float32, copy=False)
        if not self.normalized:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
        return vectors

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """The vector of one query text.

        Raises:
            ValidationError: the query is empty, or longer than the model reads.
        """
        tokens = self._over_window(text) if isinstance(text, str) and text.strip() else None
        if tokens is not None:
            raise ValidationError(
                f"the query is too long: {tokens} tokens, and {self.model} reads at most "
                f"{self.max_tokens}",
                hint="shorten it; a question of a sentence or two retrieves best",
            )
        vector: npt.NDArray[np.float32] = self.embed([text], kind="query")[0]
        return vector

    def _timed(self, texts: list[str], kind: Kind) -> Matrix:
        start = time.perf_counter()
        with observe_call("embeddings", self.provider, "embed"):
            vectors = self._embed(texts, kind)
        EMBED_SECONDS.labels(self.provider).observe(time.perf_counter() - start)
        if vectors.shape[0] != len(texts):
            raise ValidationError(
                f"{self.provider} returned {vectors.shape[0]} vectors for {len(texts)} texts"
            )
        return vectors

    def _over_window(self, text: str) -> int | None:
        """The tokens of ``text`` when more than the model reads, else ``None``."""
        tokens = self.count_tokens(text)
        return tokens if tokens > self.max_tokens else None

    def _check(self, n: int, text: object) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"text {n} to embed is empty or not text")
        tokens = self._over_window(text)
        if tokens is not None:
            raise ValidationError(
                f"text {n} to embed has {tokens} tokens; {self.model} reads at most "
                f"{self.max_tokens} and would drop the rest",
                hint="split it into chunks that fit (the rag app's chunker does)",
            )
