"""QueuedOutput: a service's log lines never block the thread that logs them."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from skybridge.core.log_output import QueuedOutput
from skybridge.core.observability import METRICS, configure_logging, get_logger


class StuckPipe(io.StringIO):
    """stderr whose reader has stopped reading until ``reading`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()

    def write(self, text: str) -> int:
        self.reading.wait()
        return super().write(text)


def dropped() -> float:
    return METRICS.get_sample_value("skybridge_log_lines_dropped_total") or 0.0


def test_a_stuck_reader_neither_blocks_the_logger_nor_loses_lines_the_queue_holds() -> None:
    pipe = StuckPipe()
    out = QueuedOutput(pipe, capacity=100)
    started = time.perf_counter()
    for n in range(50):
        out.write(f"line {n}")
        out.write("\n")  # print() writes the newline apart: lines must stay whole
    assert time.perf_counter() - started < 0.5
    assert not out.drain(timeout=0.05)  # nothing got out while the reader was stuck
    pipe.reading.set()
    assert out.drain(timeout=5)
    assert pipe.getvalue().splitlines() == [f"line {n}" for n in range(50)]


def test_a_full_queue_drops_whole_lines_counts_them_and_says_so_later() -> None:
    pipe = StuckPipe()
    out = QueuedOutput(pipe, capacity=5)
    configure_logging("INFO", json_output=True, stream=out)  # the writer reports through it
    before = dropped()
    try:
        for n in range(40):
            out.write(f"line {n}\n")
        lost = dropped() - before
        assert lost >= 30  # at most the queue (5) and the batch in the writer's hands got through
        pipe.reading.set()
        assert out.drain(timeout=5)  # the report included
        lines = pipe.getvalue().splitlines()
        kept = [line for line in lines if line.startswith("line ")]
        assert len(kept) + lost == 40
        assert kept == sorted(kept, key=lambda line: int(line.split()[1]))  # in order, whole
        report = json.loads(next(line for line in lines if "log.lines_dropped" in line))
        assert report["lines"] == lost
        assert report["level"] == "warning"
    finally:
        pipe.reading.set()
        configure_logging("INFO", json_output=True)


def test_lines_from_many_threads_never_mix() -> None:
    pipe = StuckPipe()
    pipe.reading.set()
    out = QueuedOutput(pipe)

    def log(thread: int) -> None:
        for n in range(200):
            out.write(f"thread {thread} ")  # one line written in three pieces
            out.write(f"line {n}")
            out.write("\n")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(log, range(8)))
    assert out.drain(timeout=5)
    lines = pipe.getvalue().splitlines()
    assert sorted(lines) == sorted(f"thread {t} line {n}" for t in range(8) for n in range(200))
    for thread in range(8):
        mine = [int(x.split()[3]) for x in lines if x.startswith(f"thread {thread} ")]
        assert mine == list(range(200))


def test_structlog_lines_go_out_through_the_queue() -> None:
    pipe = StuckPipe()
    out = QueuedOutput(pipe)
    configure_logging("INFO", json_output=True, stream=out)
    try:
        started = time.perf_counter()
        get_logger("skybridge.server.access").info("http.request", status=200)
        assert time.perf_counter() - started < 0.5  # the reader is stuck: it did not wait
        pipe.reading.set()
        assert out.drain(timeout=5)
        event = json.loads(pipe.getvalue())
        assert (event["event"], event["status"], event["logger"]) == (
            "http.request",
            200,
            "skybridge.server.access",
        )
    finally:
        pipe.reading.set()
        configure_logging("INFO", json_output=True)


class SlowPipe(io.StringIO):
    """stderr read slowly: each write takes a while."""

    def write(self, text: str) -> int:
        time.sleep(0.002)
        return super().write(text)


def test_under_sustained_pressure_every_line_is_written_or_reported_dropped() -> None:
    pipe = SlowPipe()
    out = QueuedOutput(pipe, capacity=20)
    configure_logging("INFO", json_output=True, stream=out)
    try:
        stop = time.monotonic() + 1.0
        written = 0

        def produce(thread: int) -> int:
            n = 0
            while time.monotonic() < stop:  # the queue stays full while reports are made
                out.write(f"line {thread} {n}\n")
                n += 1
            return n

        with ThreadPoolExecutor(4) as pool:
            written = sum(pool.map(produce, range(4)))
        assert out.drain(timeout=10)
        lines = pipe.getvalue().splitlines()
        kept = [line for line in lines if line.startswith("line ")]
        reported = sum(json.loads(line)["lines"] for line in lines if "lines_dropped" in line)
        assert reported > 0
        assert len(kept) + reported == written
    finally:
        configure_logging("INFO", json_output=True)


class BrokenPipe(io.StringIO):
    """stderr whose writes fail with an unexpected error until ``fixed``."""

    def __init__(self) -> None:
        super().__init__()
        self.fixed = False

    def write(self, text: str) -> int:
        if not self.fixed:
            raise TypeError("a stream wrapper that fails")
        return super().write(text)


def test_a_failing_target_neither_ends_the_writer_nor_blocks_drain() -> None:
    pipe = BrokenPipe()
    out = QueuedOutput(pipe)
    before = dropped()
    out.write("lost\n")
    assert out.drain(timeout=5)
    assert dropped() - before == 1
    pipe.fixed = True
    out.write("kept\n")
    assert out.drain(timeout=5)
    assert pipe.getvalue() == "kept\n"


def test_a_forked_child_writes_its_own_lines(tmp_path: Path) -> None:
    target = tmp_path / "child.log"
    with target.open("a") as stream:
        out = QueuedOutput(stream)
        out.write("parent\n")
        assert out.drain(timeout=5)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: its line must go out through a writer of its own
            out.write("child\n")
            os._exit(0 if out.drain(timeout=5) else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert time.monotonic() - started < 4
    assert target.read_text().splitlines() == ["parent", "child"]


class ReportStuck(io.StringIO):
    """stderr that takes lines once ``reading`` is set, but stalls on the drop report until
    ``report`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()
        self.report = threading.Event()
        self.at_report = threading.Event()

    def write(self, text: str) -> int:
        self.reading.wait()
        if "lines_dropped" in text:
            self.at_report.set()
            self.report.wait()
        return super().write(text)


def test_a_slow_write_of_the_drop_report_holds_up_no_other_log_call() -> None:
    pipe = ReportStuck()
    out = QueuedOutput(pipe, capacity=2)
    configure_logging("INFO", json_output=True, stream=out)
    try:
        for n in range(20):
            out.write(f"line {n}\n")
        pipe.reading.set()
        assert pipe.at_report.wait(5)  # the writer is writing its report, slowly
        logged = threading.Event()

        def log() -> None:
            get_logger("skybridge.server.access").info("http.request", status=200)
            logged.set()

        threading.Thread(target=log, daemon=True).start()
        held_up = not logged.wait(0.5)  # a logger's lock held meanwhile would hold it
        pipe.report.set()
        assert not held_up
        assert out.drain(timeout=5)
        assert '"event": "http.request"' in pipe.getvalue()
        assert '"event": "log.lines_dropped"' in pipe.getvalue()
    finally:
        pipe.reading.set()
        pipe.report.set()
        configure_logging("INFO", json_output=True)
