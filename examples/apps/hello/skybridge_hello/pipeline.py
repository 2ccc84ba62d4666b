"""The counter pipeline: each greeting on the topic adds one to its name's count in kv."""

from __future__ import annotations

from skybridge.runtime.outputs import Event, Output, Update
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.sinks import KVSink
from skybridge_hello.greetings import PREFIX, Context


def count(event: Event) -> list[Output]:
    return [Update(f"{PREFIX}{event.value['name']}", lambda n: (n or 0) + 1)]


def build_counter(ctx: Context) -> Pipeline:
    streams = ctx.connect("streams")
    streams.create_topic(ctx.config.topic, 1)
    return Pipeline(
        "hello-counter",
        source=streams,
        topics=[ctx.config.topic],
        handler=count,
        sinks={"kv": KVSink(ctx.connect("kv"))},
        poll_timeout=0.2,
    )
