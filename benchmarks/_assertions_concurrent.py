"""The concurrent part of benchmarks/assertions.py: ``--writers`` connections at once.

Each writer runs transactions back to back for ``seconds``, customers drawn uniformly or from a
skewed (Zipf, s = 1.1: the busiest of 1,000 customers gets about 17% of the traffic)
distribution. The mix, per transaction:

* 90%: a valid ticket for the customer;
* 3%: a ticket dated outside its SLA (rejected);
* 3%: the customer's SLA extended by a day (valid, checked: it takes the SLA side's locks);
* 1%: the customer's SLA expired although it has tickets (rejected);
* 1.5% / 1.5%: the first ticket of a fresh customer / the expiry of a fresh customer's SLA:
  write-skew races, where only one of the two may commit.

Throughput counts finished transactions (committed, or rightly rejected) per second; latency is
per transaction, retries included. After each run the full check counts violating rows.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from _assertions_setup import CUSTOMERS, FRESH, violations
from _assertions_txns import EXPIRE, EXTEND, INSERT, Steps, connect, run_txn

ZIPF_S = 1.1
_ZIPF = list(itertools.accumulate(k**-ZIPF_S for k in range(1, CUSTOMERS + 1)))
DISTRIBUTIONS: dict[str, Callable[[random.Random], int]] = {
    "uniform": lambda rng: rng.randint(1, CUSTOMERS),
    "skewed": lambda rng: rng.choices(range(1, CUSTOMERS + 1), cum_weights=_ZIPF)[0],
}


@dataclass
class RunResult:
    """One concurrent run of one configuration."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    violations: int = 0

    @property
    def throughput(self) -> float:
        return (self.outcomes["commit"] + self.outcomes["rejected"]) / self.seconds


def _transaction(rng: random.Random, customer: int, ids: Iterator[int]) -> Steps:
    r = rng.random()
    fresh = CUSTOMERS + rng.randint(1, FRESH)
    if r < 0.90:
        return [(INSERT, (next(ids), customer, "2026-03-01"))]
    if r < 0.93:
        return [(INSERT, (next(ids), customer, "2040-01-01"))]
    if r < 0.96:
        return [(EXTEND, (customer,))]
    if r < 0.97:
        return [(EXPIRE, (customer,))]
    if r < 0.985:
        return [(INSERT, (next(ids), fresh, "2026-03-01"))]
    return [(EXPIRE, (fresh,))]


def _writer(url: str, pick: Callable[[random.Random], int], seed: int, ids: Iterator[int],
            until: float, result: RunResult, lock: threading.Lock) -> None:  # fmt: skip
    rng = random.Random(seed)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    retries = 0
    with connect(url) as conn:
        while time.perf_counter() < until:
            steps = _transaction(rng, pick(rng), ids)
            started = time.perf_counter()
            outcome, tries = run_txn(conn, steps)
            latencies.append(time.perf_counter() - started)
            outcomes[outcome] += 1
            retries += tries
    with lock:
        result.latencies += latencies
        result.outcomes += outcomes
        result.retries += retries


def reset_fresh(url: str) -> None:
    """Fresh customers back to no ticket and an ACTIVE SLA (so every run has races to run)."""
    with connect(url) as conn, conn.transaction():
        conn.execute("DELETE FROM tickets WHERE customer_id > %s", (CUSTOMERS,))
        conn.execute("UPDATE slas SET status = 'ACTIVE' WHERE customer_id > %s", (CUSTOMERS,))


def run(url: str, distribution: str, writers: int, seconds: float, ids: Iterator[int],
        seed: int) -> RunResult:  # fmt: skip
    """``writers`` threads, one connection each, for ``seconds``; then the full check."""
    reset_fresh(url)
    pick = DISTRIBUTIONS[distribution]
    result, lock = RunResult(seconds), threading.Lock()
    started = time.perf_counter()
    until = started + seconds
    threads = [
        threading.Thread(target=_writer, args=(url, pick, seed * 100 + i, ids, until, result, lock))
        for i in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started  # the last transactions end after ``until``
    result.violations = violations(url)
    return result


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
