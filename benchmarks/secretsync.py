"""secretsync (AWS Secrets Manager -> OCI Vault) against the naive design, in one process.

Servers: the moto server (AWS) and the skybridge OCI emulator, both in this process. The naive
design is the original Lambda: per secret ``GetSecretValue`` + ``GetSecretBundle`` + an
unconditional ``UpdateSecret`` with no version name (benchmarks/_secretsync_setup.py).

Prints ``<claim>: ours=<x> anchor=<y> ratio=<r> goal=<g> PASS|FAIL`` (ratio: higher is better
for secretsync) and ``#`` detail lines:

* ``event_latency_p50_ms`` / ``event_latency_p95_ms``: a ``PutSecretValue`` on moto, then the
  Secret Label Updated event handled in-process (``SecretSync.sync_event``); timed from handler
  start to return, after which the target's CURRENT version name must equal the VersionId
  (checked outside the timing). Anchor: the naive handler on its own secrets, interleaved.
  ratio = naive / ours; goal >= 0.5 (ours reads the target and lists versions to prune first).
* ``redelivered_event_versions_x<k>``: OCI versions written by one event delivered k times;
  goal ours = 1 (the naive design writes k).
* ``reconcile_noop_<n>_wall_s``: a reconcile of n unchanged secrets; goal ours < 60 s.
* ``reconcile_noop_<n>_api_calls``: AWS + OCI calls (OCI Audit ``ListEvents`` pages
  included); ratio = naive / ours, goal >= 5. The measured reconcile is the second after
  seeding: the first has no watermark and reads every target (a full sweep, as every 24 h
  after; printed as a ``#`` line with the day's average). The seeding writes are still in
  the Audit window, so their pages are counted; a later edit by another user is repaired by
  the next reconcile (``#`` line).
* ``reconcile_noop_<n>_writes``: writes to either cloud; goal ours = 0.

Run: ``.venv/bin/python benchmarks/secretsync.py [--sizes 100,1000,5000] [--events 200]``
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _secretsync_setup import Calls, Naive, Servers, seed

from skybridge.core.observability import configure_logging

POOL = 20  # secrets per design in the latency run (rotations spread over them)


def line(claim: str, ours: float, anchor: float, ratio: float, goal: str, ok: bool) -> None:
    print(
        f"{claim}: ours={_fmt(ours)} anchor={_fmt(anchor)} ratio={_fmt(ratio)} "
        f"goal={goal} {'PASS' if ok else 'FAIL'}",
        flush=True,
    )


def _fmt(x: float) -> str:
    if x == float("inf"):
        return "inf"
    return str(int(x)) if float(x).is_integer() else f"{x:.3g}" if x < 10 else f"{x:.1f}"


def _pair(ours: int, naive: int) -> str:
    return f"{ours}/{naive} ({naive / ours:.3g}x fewer)" if ours else f"0/{naive}"


def label_event(arn: str, name: str, version_id: str) -> dict[str, Any]:
    """A native Secret Label Updated event for AWSCURRENT."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Secret Label Updated",
        "source": "aws.secretsmanager",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [arn],
        "detail": {"name": name, "labelUpdated": "AWSCURRENT", "versionId": version_id},
    }


def per_event(calls: Calls, events: int) -> str:
    merged = Counter({f"aws.{k}": v for k, v in calls.aws.items()})
    merged.update({f"oci.{k}": v for k, v in calls.oci.items()})
    return " ".join(f"{k}={v / events:.2f}" for k, v in sorted(merged.items()))


class EventBench:
    """Events on ``POOL`` secrets synced by secretsync and ``POOL`` synced by the naive design."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers
        self.sync, names = seed(servers, 2 * POOL)
        self.ours_names, self.naive_names = names[:POOL], names[POOL:]
        self.naive = Naive(servers)
        self.writer = servers.boto3(counted=False)  # the "application" rotating secrets
        self.target = self.sync.backends.get("oci")
        self.ours_ms: list[float] = []
        self.naive_ms: list[float] = []
        self.ours_calls, self.naive_calls = Calls(), Calls()
        self.wrong = 0

    def rotate(self, name: str, value: str) -> tuple[str, str]:
        response = self.writer.put_secret_value(SecretId=name, SecretString=value)
        return str(response["ARN"]), str(response["VersionId"])

    def ours_once(self, i: int) -> None:
        name = self.ours_names[i % POOL]
        arn, version = self.rotate(name, f"ours-{i}")
        event = label_event(arn, name, version)
        with self.servers.counting() as calls:
            start = time.perf_counter()
            [outcome] = self.sync.sync_event(event)
            self.ours_ms.append((time.perf_counter() - start) * 1000)
        self.ours_calls.aws += calls.aws
        self.ours_calls.oci += calls.oci
        if outcome.action != "updated" or self.target.get_value(name).version_id != version:
            self.wrong += 1

    def naive_once(self, i: int) -> None:
        name = self.naive_names[i % POOL]
        _, version = self.rotate(name, f"naive-{i}")
        with self.servers.counting() as calls:
            start = time.perf_counter()
            self.naive.sync(name, version)
            self.naive_ms.append((time.perf_counter() - start) * 1000)
        self.naive_calls.aws += calls.aws
        self.naive_calls.oci += calls.oci
        if self.target.get_value(name).value.reveal() != f"naive-{i}":
            self.wrong += 1

    def run(self, events: int) -> None:
        for i in range(events):  # alternate who goes first so drift hits both alike
            first, second = (self.ours_once, self.naive_once)[:: 1 if i % 2 else -1]
            first(i)
            second(i)

    def redeliver(self, times: int) -> tuple[int, int]:
        """OCI writes caused by one event delivered ``times`` times: (ours, naive)."""
        arn, version = self.rotate(self.ours_names[0], "redelivered")
        event = label_event(arn, self.ours_names[0], version)
        with self.servers.counting() as ours:
            for _ in range(times):
                self.sync.sync_event(event)
        _, naive_version = self.rotate(self.naive_names[0], "redelivered")
        with self.servers.counting() as naive:
            for _ in range(times):
                self.naive.sync(self.naive_names[0], naive_version)
        return ours.oci["UpdateSecret"], naive.oci["UpdateSecret"]


def bench_events(events: int, redeliveries: int) -> None:
    servers = Servers()
    try:
        bench = EventBench(servers)
        bench.run(events)
        ours, naive = bench.ours_ms, bench.naive_ms
        ours_p50, naive_p50 = statistics.median(ours), statistics.median(naive)
        ours_p95 = statistics.quantiles(ours, n=20)[-1]
        naive_p95 = statistics.quantiles(naive, n=20)[-1]
        for claim, mine, theirs in (("p50", ours_p50, naive_p50), ("p95", ours_p95, naive_p95)):
            ratio = theirs / mine
            line(f"event_latency_{claim}_ms", mine, theirs, ratio, ">=0.5", ratio >= 0.5)
        print(f"# events: {events} per design; wrong target after handler: {bench.wrong}")
        print(f"# calls per event, ours:  {per_event(bench.ours_calls, events)}")
        print(f"# calls per event, naive: {per_event(bench.naive_calls, events)}")
        ours_v, naive_v = bench.redeliver(redeliveries)
        ratio = naive_v / ours_v if ours_v else float("inf")
        claim = f"redelivered_event_versions_x{redeliveries}"
        line(claim, ours_v, naive_v, ratio, "ours=1", ours_v == 1)
    finally:
        servers.close()


def bench_reconcile(size: int) -> None:
    servers = Servers()
    try:
        started = time.perf_counter()
        sync, names = seed(servers, size)
        print(f"# reconcile {size}: seeded in {time.perf_counter() - started:.1f} s", flush=True)
        with servers.counting() as sweep:  # no watermark yet: reads every target
            started = time.perf_counter()
            sync.reconcile()
            sweep_s = time.perf_counter() - started
        with servers.counting() as ours:  # the measured one: targets vouched for by Audit
            started = time.perf_counter()
            report = sync.reconcile()
            ours_s = time.perf_counter() - started
        actions = Counter(a.action for a in report.plan.actions)
        read = sum(1 for a in report.plan.actions if a.check.startswith("read:"))
        naive = Naive(servers)
        with servers.counting() as anchor:
            started = time.perf_counter()
            naive.reconcile(names)
            naive_s = time.perf_counter() - started
        print(
            f"# reconcile {size} ours:  {ours.brief()}; plan {dict(actions)}; targets read {read}"
        )
        print(f"# reconcile {size} naive: {anchor.brief()}")
        print(
            f"# reconcile {size} full sweep (first run, then every 24 h): {sweep.brief()}; "
            f"{sweep_s:.1f} s; {_pair(sweep.total, anchor.total)}"
        )
        day = (sweep.total + 23 * ours.total) / 24
        print(
            f"# reconcile {size} hourly for a day (1 sweep + 23 feed runs): "
            f"{day:.0f} calls/run, {anchor.total / day:.3g}x fewer than naive"
        )
        aws = _pair(sum(ours.aws.values()), sum(anchor.aws.values()))
        oci = _pair(sum(ours.oci.values()), sum(anchor.oci.values()))
        print(f"# reconcile {size} calls by cloud (ours/naive): aws {aws}; oci {oci}")
        print(
            f"# reconcile {size} out-of-band edit repaired by the next reconcile: "
            f"{out_of_band_repaired(servers, sync, names[size // 2])}"
        )
        claim = f"reconcile_noop_{size}"
        line(f"{claim}_wall_s", ours_s, naive_s, naive_s / ours_s, "ours<60", ours_s < 60)
        calls = anchor.total / ours.total
        line(f"{claim}_api_calls", ours.total, anchor.total, calls, ">=5", calls >= 5)
        writes = anchor.writes / ours.writes if ours.writes else float("inf")
        line(f"{claim}_writes", ours.writes, anchor.writes, writes, "ours=0", ours.writes == 0)
    finally:
        servers.close()


def out_of_band_repaired(servers: Servers, sync: Any, name: str) -> bool:
    """Edit one target as another OCI user (a console edit); does one reconcile repair it?"""
    servers.edit_as_other_user(name, "edited-outside")
    report = sync.reconcile()
    [action] = [a for a in report.plan.actions if a.mapping == name]
    value = sync.backends.get("oci").get_value(name).value.reveal()
    return action.action == "repair" and value != "edited-outside"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="reconcile sizes, comma-separated")
    parser.add_argument("--events", type=int, default=200, help="events per design")
    parser.add_argument("--redeliveries", type=int, default=5)
    args = parser.parse_args()
    configure_logging("WARNING", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}", flush=True)
    bench_events(args.events, args.redeliveries)
    for size in (int(s) for s in args.sizes.split(",") if s):
        bench_reconcile(size)


if __name__ == "__main__":
    main()
