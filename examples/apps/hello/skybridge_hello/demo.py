"""Demo data for ``skybridge up --demo``: three greetings on the topic, once.

Idempotent: nothing is published when the topic already holds greetings. The counter
pipeline (run by ``skybridge up``) counts them.
"""

from __future__ import annotations

import json

from skybridge.backends.streams import Message
from skybridge_hello.greetings import Context

DEMO = ("ada", "grace", "ada")


def seed(ctx: Context) -> None:
    with ctx.connect("streams") as streams:
        streams.create_topic(ctx.config.topic, 1)
        if any(streams.end_offsets(ctx.config.topic).values()):
            return
        messages = [Message(json.dumps({"name": n}).encode(), n.encode()) for n in DEMO]
        streams.produce(ctx.config.topic, messages)
