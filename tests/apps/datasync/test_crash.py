"""kill -9 the consumer at points hypothesis chooses (in the handler, before the database
write, right after the database commit and before the offset commit, at random times); after
a restart the target equals the newest version of every key, and no row was ever overwritten
by an older version (a trigger records any regression while it happens).

Run as a script, this file is the worker: ``python test_crash.py SOURCE TARGET TOPIC PHASE N``
applies changes and SIGKILLs itself at the N-th crash point of PHASE.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from skybridge.apps.datasync.changes import Change
from skybridge.apps.datasync.config import ORDERS
from skybridge.apps.datasync.stream import ChangeSink, build_stream, publish
from skybridge.apps.datasync.target import SqlTarget
from skybridge.backends import streams as streams_family
from skybridge.backends.sql import create_sql_engine

PHASES = ("handler", "write-before", "commit-after", "timer")
TABLES = {"orders": ORDERS}
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
REGRESSION_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS no_regression BEFORE UPDATE ON orders
WHEN NEW.version < OLD.version
BEGIN INSERT INTO regressions VALUES (OLD.order_id, OLD.version, NEW.version); END
"""


def _kill_at(n: int) -> Callable[[], None]:
    calls = {"n": 0}

    def tick() -> None:
        calls["n"] += 1
        if calls["n"] >= n:
            os.kill(os.getpid(), signal.SIGKILL)

    return tick


def _install_crash(phase: str, n: int) -> None:
    from skybridge.apps.datasync import stream

    tick = _kill_at(n)
    if phase == "handler":
        parse = stream.parse_change

        def crashing_parse(doc: Any, tables: Any) -> Change:
            tick()
            return parse(doc, tables)

        stream.parse_change = crashing_parse  # type: ignore[assignment]
    elif phase in ("write-before", "commit-after"):
        write = ChangeSink.write

        def crashing_write(self: ChangeSink, effects: Any) -> int:
            if phase == "write-before":
                tick()
            written = write(self, effects)  # the database transaction commits here
            if phase == "commit-after":
                tick()  # ... and the offsets are not committed yet
            return written

        ChangeSink.write = crashing_write  # type: ignore[method-assign]


def _worker_main(argv: list[str]) -> int:
    from skybridge.runtime.worker import run_worker

    source, target_url, topic, phase, n, *idle = argv
    _install_crash(phase, int(n))
    target = SqlTarget(create_sql_engine(target_url), TABLES)
    backend = streams_family.connect(source, setting=None)
    run_worker(
        build_stream(backend, topic, target, batch_size=8, group=f"g-{topic}"),
        idle_exit=float(idle[0]) if idle else 1.0,
    )
    return 0


def history(seed: int, keys: int = 10, versions: int = 12) -> list[Change]:
    """Each key's versions, locally shuffled (late arrivals), some sent twice, interleaved."""
    from tests.apps.datasync.conftest import change

    rng = random.Random(seed)
    events: list[tuple[int, int]] = []
    for key in range(keys):
        order = list(range(1, versions + 1))
        for i in range(0, versions, 4):
            window = order[i : i + 4]
            rng.shuffle(window)
            order[i : i + 4] = window
        events += [(key, v) for v in order for _ in range(2 if rng.random() < 0.2 else 1)]
    rng.shuffle(events)  # across keys; per key the partition keeps the (shuffled) order
    return [change(k, v, f"v{v}") for k, v in events]


def crash_and_check(source: str, crashes: list[tuple[str, int]], tmp: Path, seed: int) -> None:
    topic = f"crash-{uuid.uuid4().hex[:8]}"
    backend = streams_family.connect(source, setting=None)
    backend.create_topic(topic, 3)
    changes = history(seed)
    publish(backend, topic, changes, TABLES)
    target_url = f"sqlite:///{tmp / f'{topic}.db'}"
    target = SqlTarget(create_sql_engine(target_url), TABLES)
    target.create()
    with target.engine.begin() as conn:
        conn.execute(text("CREATE TABLE regressions (order_id INT, old INT, new INT)"))
        conn.execute(text(REGRESSION_TRIGGER))
    worker = [sys.executable, str(Path(__file__)), source, target_url, topic]
    for phase, n in crashes:
        proc = subprocess.Popen([*worker, phase, str(n)])
        if phase == "timer":
            time.sleep(0.5 + n * 0.2)
            proc.kill()
        assert proc.wait(timeout=90) in (0, -signal.SIGKILL)
    # A killed worker keeps its partitions until its lease (the session timeout: 1 s on the
    # sqlite log here, 6 s on Kafka) expires, and a worker exits after some idle time: a first
    # worker idles 1 s; if that left something uncommitted, the next ones wait longer than a
    # lease, until the group has committed everything (a loaded machine needs more).
    deadline, idle = time.monotonic() + 240, "1"
    while backend.total_lag(f"g-{topic}", topic) and time.monotonic() < deadline:
        assert subprocess.Popen([*worker, "none", "0", idle]).wait(timeout=120) == 0
        idle = "8"
    newest: dict[int, int] = {}
    for c in changes:
        newest[c.row["order_id"]] = max(newest.get(c.row["order_id"], 0), c.row["version"])
    rows = target.rows("orders")
    assert {r["order_id"]: r["version"] for r in rows} == newest
    assert all(r["status"] == f"v{r['version']}" for r in rows)  # no torn rows
    with target.engine.connect() as conn:
        assert conn.execute(text("SELECT * FROM regressions")).all() == []
    assert backend.total_lag(f"g-{topic}", topic) == 0


@pytest.mark.slow
@settings(max_examples=4, deadline=None, phases=NO_SHRINK, suppress_health_check=list(HealthCheck))
@given(
    crashes=st.lists(
        st.tuples(st.sampled_from(PHASES), st.integers(1, 10)), min_size=1, max_size=3
    ),
    seed=st.integers(0, 1000),
)
def test_killed_consumers_leave_the_newest_versions_and_no_regressions(
    tmp_path_factory: pytest.TempPathFactory, crashes: list[tuple[str, int]], seed: int
) -> None:
    tmp = tmp_path_factory.mktemp("crash")
    crash_and_check(f"sqlite:///{tmp / 'log.db'}?session_timeout=1", crashes, tmp, seed)


@pytest.mark.slow
@pytest.mark.kafka
def test_killed_consumers_on_kafka(kafka_server: Any, tmp_path: Path) -> None:
    source = f"{kafka_server.url}?session_timeout=6&heartbeat_interval=0.5"
    crash_and_check(source, [("commit-after", 3), ("timer", 4)], tmp_path, seed=11)


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
