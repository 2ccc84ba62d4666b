"""The one-writer part of benchmarks/assertions.py: per-transaction cost of each configuration."""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from _assertions_setup import CONFIGS, CUSTOMERS, enforce, load
from _assertions_txns import sanity


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


#: The CPU the client and every server backend of the one-writer part run on, chosen before
#: anything is pinned (once this process is pinned, its own affinity no longer says which CPUs
#: exist, so it must not decide whether a backend gets pinned).
CPU = max(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0


def pin(pid: int) -> None:
    """Run on :data:`CPU`: client and server backend on the same core gives a stable IPC cost.

    Without it, per-transaction times are bimodal (~0.08 vs ~0.2 ms) depending on where the
    scheduler puts the two processes, and medians jump between the modes from run to run.
    """
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(pid, {CPU})
        except (PermissionError, ProcessLookupError) as error:
            progress(f"could not pin process {pid} to CPU {CPU} ({error}): times may be bimodal")


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) a server backend has used (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Inserter:
    """Single-row insert transactions on one database; records each one's duration (ms)."""

    def __init__(self, url: str, first_id: int, seed: int) -> None:
        self.conn: psycopg.Connection[Any] = psycopg.connect(url)
        pin(self.conn.info.backend_pid)
        self.next_id = first_id
        self.rng = random.Random(seed)
        self.samples: list[float] = []
        self.round_medians: list[float] = []
        self.server_cpu = 0.0

    def run(self, count: int, *, record: bool = True) -> None:
        cpu, first = backend_cpu(self.conn.info.backend_pid), len(self.samples)
        for _ in range(count):
            customer = self.rng.randint(1, CUSTOMERS)
            start = time.perf_counter()
            self.conn.execute(
                "INSERT INTO tickets VALUES (%s, %s, NULL, 'LOW', DATE '2026-03-01')",
                (self.next_id, customer),
            )
            self.conn.commit()
            elapsed = time.perf_counter() - start
            self.next_id += 1
            if record:
                self.samples.append(elapsed * 1000)
        if record:
            self.round_medians.append(statistics.median(self.samples[first:]))
            self.server_cpu += backend_cpu(self.conn.info.backend_pid) - cpu

    def close(self) -> None:
        self.conn.close()


def create_databases(base: str, rows: int, configs: tuple[str, ...], tag: str) -> dict[str, str]:
    """One loaded database per configuration, with its enforcement; their URLs."""
    urls = {}
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        for config in configs:
            name = f"bench_{tag}_{config}_{rows}"
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
            urls[config] = f"{base}/{name}"
    for config in configs:
        started = time.perf_counter()
        load(urls[config], rows)
        enforce(urls[config], config)
        progress(f"setup {config} {rows:,} rows: {time.perf_counter() - started:.1f} s")
    return urls


def drop_databases(base: str, urls: dict[str, str]) -> None:
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        for url in urls.values():
            admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def measure_single(base: str, rows: int, txns: int, rounds: int) -> tuple[dict[str, float], bool]:
    """Per configuration the best round's median ms per transaction (the box's load comes in
    bursts: some round of each configuration misses them), and whether every enforcing one
    passed the sanity check (``none`` must fail it: the control)."""
    pin(0)
    urls = create_databases(base, rows, CONFIGS, tag="one")
    inserters = {c: Inserter(urls[c], rows + 1, seed=rows) for c in CONFIGS}
    try:
        for inserter in inserters.values():
            inserter.run(200, record=False)  # warm caches and plans
        progress(f"one writer, {rows:,} rows: {rounds} rounds of {txns // rounds} per config ...")
        for turn in range(rounds):
            order = CONFIGS[turn % len(CONFIGS) :] + CONFIGS[: turn % len(CONFIGS)]
            for config in order:
                inserters[config].run(txns // rounds)
        medians = {c: min(i.round_medians) for c, i in inserters.items()}
        for config, inserter in inserters.items():
            samples = inserter.samples
            p95 = statistics.quantiles(samples, n=20)[18]
            cpu_us = inserter.server_cpu / len(samples) * 1e6
            print(f"# {rows:>9,} rows {config:<12} best-round median={medians[config]:.3f}ms "
                  f"median={statistics.median(samples):.3f}ms p95={p95:.3f}ms "
                  f"server CPU={cpu_us:.0f}us/txn n={len(samples)}", flush=True)  # fmt: skip
    finally:
        for inserter in inserters.values():
            inserter.close()
    try:
        return medians, _sanity_all(urls, rows)
    finally:
        drop_databases(base, urls)


def _sanity_all(urls: dict[str, str], rows: int) -> bool:
    ok = True
    for config, url in urls.items():
        sane, detail = sanity(url, next_id=10**9)
        expected = not sane if config == "none" else sane
        verdict = "as expected" if expected else "WRONG"
        print(f"# sanity {config} ({rows:,} rows): {detail} ({verdict})", flush=True)
        ok &= expected
    return ok
