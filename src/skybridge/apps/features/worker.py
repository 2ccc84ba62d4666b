"""The manifest's pipeline ``features.online``: run by ``skybridge up``, ``skybridge worker run
features`` and ``skybridge features serve``."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from skybridge.apps.features.offline import OfflineLogSink
from skybridge.apps.features.online import OnlineStore
from skybridge.apps.features.pipeline import feature_handler, feature_sinks
from skybridge.apps.features.store import Context, online_kv, resolve_views
from skybridge.backends.streams import StreamBackend
from skybridge.runtime.pipeline import Pipeline


@dataclass
class FeaturePipeline(Pipeline):
    """The feature pipeline, owning its backends (:meth:`close` releases them)."""

    resources: ExitStack = field(default_factory=ExitStack)

    def close(self) -> None:
        self.resources.close()


def ensure_topics(backend: StreamBackend, topics: list[str], partitions: int = 1) -> None:
    """Create the source topics that do not exist yet (and nothing else)."""
    for topic in topics:
        backend.create_topic(topic, partitions)


def build_pipeline(ctx: Context, **options: Any) -> FeaturePipeline:
    """The feature pipeline on the configured streams, online kv and objects backends."""
    stack = ExitStack()
    try:
        kv = stack.enter_context(online_kv(ctx))
        views = resolve_views(ctx.config, kv)
        objects = stack.enter_context(ctx.connect("objects"))
        source = stack.enter_context(ctx.connect("streams"))
        topics = sorted({view.topic for view in views})
        ensure_topics(source, topics)
        online = OnlineStore(kv, views)
        offline = OfflineLogSink(objects, ctx.config.offline_prefix, kv)
        options.setdefault("batch_size", ctx.config.batch_size)
        return FeaturePipeline(
            "features",
            source=source,
            topics=topics,
            handler=feature_handler(views),
            sinks=feature_sinks(online, offline),
            group=ctx.config.group,
            resources=stack,
            **options,
        )
    except BaseException:
        stack.close()
        raise
