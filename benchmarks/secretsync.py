"""secretsync (AWS Secrets Manager -> OCI Vault) against a competent baseline and the original.

Servers (one process): the moto server and two OCI emulators, ours' and the anchors' (see
``_secretsync_setup.py``); every call is counted at the servers, and a write is any operation
outside a read allowlist. Anchors (``_secretsync_anchors.py``): **competent** (batch reads of
20, compare before write, 8 threads; the headline) and **naive** (the original Lambda: get,
get, unconditional update, one secret at a time; run up to ``--naive-max`` secrets).

Prints ``<claim>: ours=<x> anchor=<y> ratio=<r> goal=<g> PASS|FAIL`` (ratio: higher is better
for secretsync), ``#`` detail lines, progress on stderr; exits 1 when a claim fails.

* ``event_latency_p50_ms`` / ``p95``: a ``PutSecretValue``, then the Secret Label Updated event
  handled in-process, timed from handler start to return (the target's CURRENT version is
  checked outside the timing); designs interleaved; ratio = competent / ours, goal >= 0.5.
* ``redelivered_event_versions_x<k>``: OCI versions one event delivered k times writes.
* ``reconcile_noop_<n>_{second,daily_avg}_{api_calls,writes,wall_s}``: a simulated day of
  hourly no-op reconciles of n secrets on a manual clock shared by ours' engine and its
  emulator. The first reconcile has no watermark and reads every target (a full sweep, as
  every 24 h after); every hour in between reads the Audit change feed, whose window (last
  verified time minus 30 minutes, to now) holds every audited call in the compartment: the
  seeding writes, the sweep's reads, and ``--app-reads`` reads per secret per hour by the
  applications that use them (recorded in the emulator's Audit log without HTTP calls). The
  second reconcile (1 h after the first: its window holds the seeding and the whole sweep) and
  the average of hours 1-24 (23 feed runs + the 24 h sweep) are claims against the competent
  baseline, which does the same work every run; it runs after ours at hours 1-4 and every
  fourth hour, so drift hits both. Wall time of the second reconcile: best of three for both
  (ours: two dry runs, which make the same reads, then the real one; the baseline: hours
  1-3); of the day: the means.
  Goals: >= 5x fewer calls, 0 writes, wall time <= the baseline's (ratio >= 1).

Run: ``.venv/bin/python benchmarks/secretsync.py [--sizes 100,1000,5000] [--events 200]
[--app-reads 1] [--naive-max 1000]``
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _secretsync_day import bench_reconcile
from _secretsync_events import bench_events

from skybridge.core.observability import configure_logging


def machine() -> str:
    model = next(
        (
            row.split(":", 1)[1].strip()
            for row in Path("/proc/cpuinfo").read_text().splitlines()
            if row.startswith("model name")
        ),
        platform.processor(),
    )
    return f"nproc={len(os.sched_getaffinity(0))}, {model}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="reconcile sizes, comma-separated")
    parser.add_argument("--events", type=int, default=200, help="events per design")
    parser.add_argument("--redeliveries", type=int, default=5)
    parser.add_argument("--app-reads", type=int, default=1, help="reads per secret per hour")
    parser.add_argument(
        "--naive-max", type=int, default=1000, help="largest size the naive design runs at"
    )
    args = parser.parse_args()
    configure_logging("WARNING", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}", flush=True)
    started = time.perf_counter()
    ok = bench_events(args.events, args.redeliveries)
    for size in (int(s) for s in args.sizes.split(",") if s):
        ok &= bench_reconcile(size, args.app_reads, args.naive_max)
    print(f"# total {time.perf_counter() - started:.0f} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
