"""The packaged all-MiniLM-L6-v2, offline: the contract, its window and its reference vector."""

from __future__ import annotations

import os
import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from skybridge.backends.embeddings import DEFAULT_URL, Embedder, connect
from skybridge.backends.embeddings.local import load_model
from skybridge.core.errors import ConfigError
from skybridge.testing.contracts.embeddings import EmbeddingsContract

# Loading the model takes seconds, or minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="session")
def local_embedder() -> Embedder:
    return connect(DEFAULT_URL)


class TestLocal(EmbeddingsContract):
    @pytest.fixture
    def embedder(self, local_embedder: Embedder) -> Embedder:
        return local_embedder


def test_the_packaged_model_loads_offline_with_its_reference_vector(
    local_embedder: Embedder,
) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    vector = local_embedder.embed(["This is an example sentence"])[0]
    np.testing.assert_allclose(vector[:4], [0.0677, 0.0635, 0.0487, 0.0793], atol=2e-4)
    assert local_embedder.dimension == 384
    assert local_embedder.max_tokens == 254  # 256 word pieces less [CLS] and [SEP]


def test_the_window_counts_word_pieces_not_words(local_embedder: Embedder) -> None:
    text = "antidisestablishmentarianism " * 30
    assert local_embedder.count_tokens(text) > 30 * 3


def test_a_missing_model_folder_is_a_config_error(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="no sentence-transformers model"):
        connect(f"local://{tmp_path}/nothing-here")


def test_threads_are_checked_and_set_for_the_process() -> None:
    import torch

    for bad in ("0", "many", "300"):
        with pytest.raises(ConfigError, match="threads"):
            connect(f"local://all-MiniLM-L6-v2?threads={bad}")
    before = torch.get_num_threads()
    try:
        embedder = connect("local://all-MiniLM-L6-v2?threads=1")
        vector = embedder.embed(["threads do not change the vectors"])[0]
        assert torch.get_num_threads() == 1
        torch.set_num_threads(before)
        again = connect("local://all-MiniLM-L6-v2").embed(["threads do not change the vectors"])
        assert float(vector @ again[0]) > 0.9999
    finally:
        torch.set_num_threads(before)


def test_callers_asking_while_a_model_loads_share_that_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A burst of first queries loaded one copy of the model per request, one after another.
    loads: list[int] = []

    class SlowModel:
        def __init__(self, path: str, device: str) -> None:
            loads.append(threading.get_ident())
            time.sleep(0.2)

    fake = types.ModuleType("sentence_transformers")
    fake.SentenceTransformer = SlowModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", fake)
    together = threading.Barrier(6)

    def first_query(_: int) -> object:
        together.wait()
        return load_model(str(tmp_path), "cpu")

    with ThreadPoolExecutor(6) as pool:
        models = list(pool.map(first_query, range(6)))
    assert len(loads) == 1
    assert all(model is models[0] for model in models)
