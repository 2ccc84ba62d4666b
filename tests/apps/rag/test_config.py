"""``[rag]`` settings: a refused value is named by its own key and variable."""

from __future__ import annotations

import pytest

from skybridge.apps.rag.config import RagConfig
from skybridge.core.config import load_settings
from skybridge.core.errors import ConfigError


def test_an_overlap_too_large_names_chunk_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBRIDGE__RAG__CHUNK_TOKENS", "200")
    monkeypatch.setenv("SKYBRIDGE__RAG__CHUNK_OVERLAP", "150")
    with pytest.raises(ConfigError) as info:
        load_settings(sections={"rag": RagConfig})
    assert info.value.setting == "rag.chunk_overlap"
    assert info.value.message == "chunk_overlap (150) must be less than half of chunk_tokens (200)"
    assert "SKYBRIDGE__RAG__CHUNK_OVERLAP" in str(info.value.hint)
    monkeypatch.setenv("SKYBRIDGE__RAG__CHUNK_OVERLAP", "99")
    assert load_settings(sections={"rag": RagConfig}).section("rag") is not None


def test_both_weights_zero_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBRIDGE__RAG__DENSE_WEIGHT", "0")
    monkeypatch.setenv("SKYBRIDGE__RAG__BM25_WEIGHT", "0")
    with pytest.raises(ConfigError, match="dense_weight and bm25_weight cannot both be 0"):
        load_settings(sections={"rag": RagConfig})
