"""The event pipeline: each user event updates that user's profile and vector; feedback and
served lists update the day's click-through and coverage counters.

Records are keyed by user, so one user's events stay on one partition and in order. The profile
is the pipeline's state for the user (exactly once per event with the runtime's guard); the
vector is folded in against the current model, which the pipeline re-reads at most once per
second. Events that do not parse (an unknown kind, a bad id or record key, a ``ts`` outside
1970-2100) go to ``<topic>.dlq`` with the reason and leave the profile as it was.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

from skybridge.apps.kit.background import serve_pipeline
from skybridge.apps.recommend.events import UserEvent, check_id, parse_event
from skybridge.apps.recommend.metrics import count_event
from skybridge.apps.recommend.model import ItemFactors
from skybridge.apps.recommend.profiles import PIPELINE, apply_event
from skybridge.apps.recommend.service import Context, Recommender, open_recommender
from skybridge.apps.recommend.users import USERS, count_user, is_counted, marked
from skybridge.backends.streams import StreamBackend
from skybridge.backends.streams.records import Record
from skybridge.core.errors import TransientError
from skybridge.runtime.outputs import Event, Output, Update
from skybridge.runtime.pipeline import Pipeline, StatefulHandler
from skybridge.runtime.sinks import KVSink

MODEL_CHECK_SECONDS = 1.0


def user_key(record: Record, value: Any) -> str:
    """The state key: the record key, else the event's user; either must be a user id.

    Raises:
        ValidationError: no user id. The runtime dead-letters a record whose key function
            raises; an unchecked key (a NUL, say) would instead fail the state read of the
            whole batch, again on every retry.
    """
    if record.key:
        return check_id(record.key.decode("utf-8", errors="replace"), "user")
    return parse_event(value).user


class ModelCache:
    """The current model, re-read from the version pointer at most once per ``every`` seconds."""

    def __init__(self, engine: Recommender, every: float = MODEL_CHECK_SECONDS) -> None:
        self.engine = engine
        self.every = every
        self._checked = float("-inf")
        self._model: tuple[str, ItemFactors] | None = None

    def get(self) -> tuple[str, ItemFactors] | None:
        now = time.monotonic()
        if now - self._checked >= self.every:
            found = self.engine.model()
            self._model = None if found is None else (found[0].version, found[1])
            self._checked = now
        return self._model


def update_profiles(engine: Recommender, models: ModelCache | None = None) -> StatefulHandler:
    """The stateful handler: ``(profile, event) -> (profile, [metric updates])``; a profile
    not yet counted in the user counter is marked and counted (see :mod:`.users`)."""
    cache = models or ModelCache(engine)
    config = engine.config

    def handle(state: Any, event: Event) -> tuple[Any, list[Output]]:
        parsed = parse_event(event.value)
        profile = apply_event(
            state if isinstance(state, dict) else None, parsed, cache.get(), config
        )
        outputs = _metric_updates(parsed)
        if not is_counted(state, config.collection):
            profile = marked(profile, config.collection)
            outputs.append(Update(USERS, count_user))
        return profile, outputs

    return handle


def _metric_updates(event: UserEvent) -> list[Output]:
    if event.kind not in {"rec_served", "rec_click", "rec_ignore", "purchase"}:
        return []
    day = datetime.fromtimestamp(event.ts, UTC).date().isoformat()
    return [Update(f"metrics/{day}", lambda doc: count_event(doc, event))]


def build_pipeline(ctx: Context) -> Pipeline:
    """The event pipeline on ``backends.streams`` (profiles and metrics in ``backends.kv``)."""
    stack = ExitStack()
    engine = stack.enter_context(open_recommender(ctx))
    streams = engine.streams  # connected now, with the topic created
    pipeline = Pipeline(
        PIPELINE,
        source=streams,
        topics=[ctx.config.topic],
        stateful=update_profiles(engine),
        state=engine.kv,
        key=user_key,
        decode=bytes,
        sinks={"kv": KVSink(engine.kv, f"recommend/{ctx.config.collection}/")},
        poll_timeout=0.2,
    )
    # ``run_pipeline`` (skybridge up / worker) and ``recommend serve`` call it when the run ends.
    setattr(pipeline, "close", stack.close)  # noqa: B010
    return pipeline


def drain_events(ctx: Context, *, idle: float = 0.3, timeout: float = 300.0) -> int:
    """Run the pipeline until the group has committed every event of the topic (the demo, the
    CLI's ``serve --until-idle`` and tests); how many records it applied."""
    pipeline = build_pipeline(ctx)
    deadline = time.monotonic() + timeout
    applied = 0
    try:
        streams = pipeline.source
        if not isinstance(streams, StreamBackend):
            raise TypeError("the recommend pipeline reads a connected stream backend")
        while True:
            applied += pipeline.run(idle_exit=idle).records
            if streams.total_lag(pipeline.group_id, ctx.config.topic) == 0:
                return applied
            if time.monotonic() > deadline:
                raise TransientError(f"the event pipeline did not catch up in {timeout:g} s")
    finally:
        pipeline.close()  # type: ignore[attr-defined]


def serve_forever(ctx: Context) -> None:
    """Run the pipeline until SIGTERM or SIGINT."""
    serve_pipeline(build_pipeline(ctx))
