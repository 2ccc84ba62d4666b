"""The app's Python API: greet someone (an event on the topic) and read the counts (kv)."""

from __future__ import annotations

import json
from typing import Any

from skybridge.apps.kit.context import AppContext
from skybridge.runtime.sinks import KVSink
from skybridge_hello.config import HelloConfig

Context = AppContext[HelloConfig]
PREFIX = "hello/count/"


def greet(ctx: Context, name: str) -> str:
    """Publish a greeting for ``name``; the counter pipeline counts it."""
    with ctx.connect("streams") as streams:
        streams.create_topic(ctx.config.topic, 1)
        streams.produce_one(
            ctx.config.topic, json.dumps({"name": name}).encode(), key=name.encode()
        )
    return f"{ctx.config.greeting}, {name}!"


def counts(ctx: Context) -> dict[str, Any]:
    """Greetings counted so far, by name (the counter pipeline's documents in kv)."""
    with ctx.connect("kv") as store:
        sink = KVSink(store)
        return {item.key[len(PREFIX) :]: sink.get(item.key) for item in store.scan_prefix(PREFIX)}
