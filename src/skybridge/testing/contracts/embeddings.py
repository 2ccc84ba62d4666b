"""Contract suite every embedding model passes.

Subclass :class:`EmbeddingsContract` with a fixture ``embedder`` (a ready model)::

    class TestLocal(EmbeddingsContract):
        @pytest.fixture
        def embedder(self):
            return connect("local://all-MiniLM-L6-v2")
"""

from __future__ import annotations

import numpy as np
import pytest

from skybridge.backends.embeddings import Embedder
from skybridge.core.errors import ValidationError


class EmbeddingsContract:
    """The behaviour every :class:`Embedder` shares."""

    def test_vectors_have_one_row_per_text_unit_length_in_order(self, embedder: Embedder) -> None:
        texts = ["The cat sat on the mat.", "Stock prices fell sharply.", "A cat on a mat."]
        vectors = embedder.embed(texts)
        assert vectors.shape == (3, embedder.dimension)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        again = embedder.embed(texts[::-1])
        np.testing.assert_allclose(again[::-1], vectors, atol=1e-4)
        assert vectors[0] @ vectors[2] > vectors[0] @ vectors[1]

    def test_batches_give_the_same_vectors_as_single_texts(self, embedder: Embedder) -> None:
        texts = [f"sentence number {i} about topic {i % 3}" for i in range(embedder.batch_size + 3)]
        together = embedder.embed(texts)
        alone = np.vstack([embedder.embed([t]) for t in texts[:3]])
        np.testing.assert_allclose(together[:3], alone, atol=1e-4)

    def test_fingerprint_is_stable_and_names_the_model(self, embedder: Embedder) -> None:
        fingerprint = embedder.fingerprint
        assert fingerprint == embedder.fingerprint
        assert embedder.model in fingerprint
        assert f":{embedder.dimension}:" in fingerprint

    def test_a_text_over_the_window_is_refused_not_truncated(self, embedder: Embedder) -> None:
        text = "word " * (embedder.max_tokens + 10)
        assert embedder.count_tokens(text) > embedder.max_tokens
        with pytest.raises(ValidationError, match="at most"):
            embedder.embed(["short one", text])

    def test_a_query_over_the_window_is_refused_as_a_query(self, embedder: Embedder) -> None:
        text = "backup " * (embedder.max_tokens + 10)
        with pytest.raises(ValidationError, match=r"^the query is too long: ") as info:
            embedder.embed_query(text)
        assert f"reads at most {embedder.max_tokens}" in info.value.message
        assert "shorten it" in str(info.value.hint)
        assert "chunk" not in str(info.value)  # the chunker's advice is for documents

    def test_token_spans_cover_the_text_in_order(self, embedder: Embedder) -> None:
        text = "Retrieval-augmented generation grounds answers, doesn't it?"
        spans = embedder.token_spans(text)
        assert spans
        assert spans == sorted(spans)
        assert all(0 <= a < b <= len(text) for a, b in spans)
        assert embedder.count_tokens(text) == len(spans)

    def test_empty_texts_are_refused(self, embedder: Embedder) -> None:
        for bad in ([""], ["   "]):
            with pytest.raises(ValidationError):
                embedder.embed(bad)
        assert embedder.embed([]).shape[0] == 0

    def test_queries_embed_like_documents_in_the_same_space(self, embedder: Embedder) -> None:
        query = embedder.embed_query("where did the cat sit")
        docs = embedder.embed(["The cat sat on the mat.", "Quarterly revenue grew."])
        assert query.shape == (embedder.dimension,)
        assert docs[0] @ query > docs[1] @ query
