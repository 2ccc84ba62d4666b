"""A scheduled job: record when the app last ran its heartbeat."""

from __future__ import annotations

import time

from skybridge.apps.kit.background import ScheduledJob
from skybridge.runtime.scheduler import JobRun
from skybridge_hello.greetings import Context


def heartbeat(ctx: Context) -> ScheduledJob:
    def run(tick: JobRun) -> dict[str, float]:
        with ctx.connect("kv") as store:
            store.put_json("hello/heartbeat", {"at": time.time(), "tick": tick.scheduled_for})
        return {"tick": tick.scheduled_for}

    return ScheduledJob(run, every=ctx.config.heartbeat_every)
