"""The ``[rag]`` section of skybridge.toml (or ``SKYBRIDGE__RAG__<KEY>``)."""

from __future__ import annotations

from numbers import Integral
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from skybridge.core.config import SettingsModel
from skybridge.core.errors import ValidationError

Mode = Literal["hybrid", "dense", "bm25"]
#: Every search mode, in the order evaluations run them.
MODES: tuple[Mode, ...] = tuple(sorted(get_args(Mode)))
#: The chunks a query may ask for (``rag.top_k``, ``--k``, the routes' ``k``).
MIN_K, MAX_K = 1, 100
#: ``k`` in a request body: what :func:`checked_k` takes (a whole number, not true/false).
ChunkCount = Annotated[StrictInt, Field(ge=MIN_K, le=MAX_K, description="Chunks to retrieve")]
#: Defaults of ``rag.claim_seconds``, ``rag.ingest_wait_seconds`` and ``rag.event_wait_seconds``
#: (see :mod:`skybridge.apps.rag.claims`).
CLAIM_SECONDS, INGEST_WAIT_SECONDS, EVENT_WAIT_SECONDS = 60.0, 300.0, 30.0


def checked_mode(mode: Any) -> Mode:
    """``mode`` if it is a search mode. Any other value is refused here, before any work: the
    search would otherwise fuse it as hybrid and record metrics labelled with it."""
    if isinstance(mode, str) and mode in MODES:
        return mode
    raise ValidationError(
        f"mode {mode!r} is not one of {', '.join(MODES)}",
        hint="or leave it unset for the configured rag.mode",
    )


def checked_k(k: Any) -> int:
    """``k`` if it is a whole number of chunks from :data:`MIN_K` to :data:`MAX_K`."""
    if isinstance(k, bool) or not isinstance(k, Integral):
        raise ValidationError(f"k must be a whole number, got {type(k).__name__} {k!r}")
    size = int(k)
    if not MIN_K <= size <= MAX_K:
        raise ValidationError(f"k must be between {MIN_K} and {MAX_K}, got {size}")
    return size


class RagConfig(SettingsModel):
    """Settings of the rag app.

    Attributes:
        collection: The vector collection documents are indexed into.
        chunk_tokens: Largest chunk, in the embedding model's tokens (it must fit the model's
            window: 254 word pieces for all-MiniLM-L6-v2; a larger value is refused).
        chunk_overlap: Tokens shared by consecutive chunks of a section.
        top_k: Chunks returned by a query and handed to the answer model.
        candidates: Chunks each retriever proposes before fusion.
        mode: ``hybrid`` (BM25 + vectors, reciprocal rank fusion), ``dense`` or ``bm25``.
        rrf_k: The rank constant of reciprocal rank fusion.
        dense_weight: Weight of the vector ranking in the fusion.
        bm25_weight: Weight of the BM25 ranking in the fusion.
        answer_min_similarity: ``ask`` answers "nothing found" when no retrieved chunk shares a
            word with the question (BM25) and none is at least this similar to it (cosine of
            the embeddings): a question the documents do not cover gets no confident answer
            made of unrelated sentences. 0.2 suits the packaged all-MiniLM-L6-v2, on which
            unrelated text scores about 0.1 and an answerable question 0.25 or more; another
            embedding model may need another value; 0 turns the check off.
        alert_margin: How far below the baseline a score may fall before an alert.
        rolling_window: Live queries in the rolling retrieval score.
        eval_dataset: Folder of a query set (BEIR layout) the scheduled eval runs on.
        eval_every: Seconds between scheduled evals.
        http_ingest_sources: What ``POST /api/rag/ingest`` may read: local folders (a path or
            ``file://``) and URL prefixes (``s3://docs-bucket/``, ``oci://kb@ns/``). None by
            default, so the service reads no file and calls no endpoint a caller names unless
            this list allows it. Files in a listed folder are read only if they resolve (links
            followed) inside a listed folder, and never from ``data_dir``.
        event_url_params: URL parameters added to the stores named by upload events in the
            cloud handlers, e.g. ``region=eu-central-1`` or ``profile=ops``.
        malformed_messages: What the cloud handlers do with a message that is no storage event
            (not JSON, no bucket or key). ``dead_letter`` (the default) fails it, so it is kept
            where the platform keeps failed deliveries: over SQS it is named in
            ``batchItemFailures`` and the queue's redrive policy moves it to its dead-letter
            queue after ``maxReceiveCount``; a direct invoke raises, for Lambda's on-failure
            destination or the OCI function's error log. ``set_aside`` answers it under
            ``setAside`` and logs it, and nothing delivers it again: its log line is its only
            record.
        claim_seconds: Seconds an ingest's claim on a document lasts without renewal (4 to
            3600): a live ingest renews its claims every quarter of it, and a claim left by a
            process on another host lapses after it (one whose process on this host is gone is
            taken over at once).
        ingest_wait_seconds: Seconds an ingest waits for a document another live ingest holds
            (0 to a day) before it lists the document under ``skipped``, naming the holder (the
            next ingest indexes it).
        event_wait_seconds: Seconds an upload or delete event waits for a document another
            live ingest holds (0 to 900, Lambda's longest timeout) before it fails as a
            transient error, to be delivered again; keep it well below the function's timeout.
    """

    model_config = ConfigDict(extra="forbid")

    collection: str = Field(default="docs", pattern=r"^[a-z][a-z0-9_]{0,39}$")
    chunk_tokens: int = Field(default=200, ge=16, le=8192)
    chunk_overlap: int = Field(default=50, ge=0)
    top_k: int = Field(default=5, ge=MIN_K, le=MAX_K)
    candidates: int = Field(default=50, ge=1, le=1000)
    mode: Mode = "hybrid"
    rrf_k: int = Field(default=60, ge=1)
    dense_weight: float = Field(default=1.0, ge=0.0)
    bm25_weight: float = Field(default=1.0, ge=0.0)
    answer_min_similarity: float = Field(default=0.2, ge=0.0, le=1.0)
    alert_margin: float = Field(default=0.05, ge=0.0, le=1.0)
    rolling_window: int = Field(default=50, ge=1, le=10_000)
    eval_dataset: str | None = None
    eval_every: float = Field(default=86_400.0, ge=60.0)
    http_ingest_sources: list[str] = Field(default_factory=list)
    event_url_params: str = ""
    malformed_messages: Literal["dead_letter", "set_aside"] = "dead_letter"
    claim_seconds: float = Field(default=CLAIM_SECONDS, ge=4.0, le=3600.0)
    ingest_wait_seconds: float = Field(default=INGEST_WAIT_SECONDS, ge=0.0, le=86_400.0)
    event_wait_seconds: float = Field(default=EVENT_WAIT_SECONDS, ge=0.0, le=900.0)

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_half(cls, overlap: int, info: ValidationInfo) -> int:
        """Checked on the field, so the error names ``rag.chunk_overlap`` and its variable."""
        tokens = info.data.get("chunk_tokens")  # absent when chunk_tokens itself was refused
        if tokens is not None and overlap >= tokens // 2:
            raise ValueError(
                f"chunk_overlap ({overlap}) must be less than half of chunk_tokens ({tokens})"
            )
        return overlap

    @model_validator(mode="after")
    def _some_weight(self) -> RagConfig:
        if self.dense_weight == 0 and self.bm25_weight == 0:
            raise ValueError("dense_weight and bm25_weight cannot both be 0")
        return self
