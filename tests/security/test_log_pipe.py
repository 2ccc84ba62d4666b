"""A service whose stderr nobody reads keeps answering: log lines go out through a thread of
their own and are dropped, counted and reported when the pipe is full (core.log_output)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from skybridge.testing.process import service_process

#: Access-log lines of ~250 bytes: several times what a Linux pipe holds (64 KiB).
REQUESTS = 1500


def test_a_service_whose_stderr_is_not_read_keeps_answering(tmp_path: Path) -> None:
    queue = {"SKYBRIDGE__LOG__QUEUE_LINES": "200"}
    with service_process(tmp_path, stderr_pipe=True, env=queue) as service:
        assert service.process.stderr is not None
        slowest = 0.0
        with service.client() as client:
            for _ in range(REQUESTS):
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                slowest = max(slowest, time.perf_counter() - started)
            metrics = client.get("/metrics").text
        assert slowest < 2.0  # blocked on a full pipe, the event loop would never answer
        dropped = next(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("skybridge_log_lines_dropped_total ")
        )
        assert dropped > 0  # the pipe filled: the queue did not grow without bound
        seen: list[bytes] = []
        reported = threading.Event()

        def read() -> None:  # the reader comes back: the writer goes on and says what it lost
            assert service.process.stderr is not None
            for line in service.process.stderr:
                seen.append(line)
                if b"log.lines_dropped" in line:
                    reported.set()
                    return

        threading.Thread(target=read, daemon=True).start()
        assert reported.wait(30), b"".join(seen[-5:]).decode(errors="replace")
        assert b'"event": "http.request"' in b"".join(seen)
