"""The event part of benchmarks/secretsync.py: handler latency and redelivery, per design.

Each design syncs its own ``POOL`` secrets (ours to its emulator, the anchors to theirs); the
"application" rotates a secret with ``PutSecretValue`` and the design handles the Secret Label
Updated event in-process. Only the handler is timed and counted.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from _secretsync_anchors import Competent, Naive
from _secretsync_report import line, progress
from _secretsync_setup import Calls, Servers, create_sources, seed_targets

POOL = 20  # secrets per design (rotations spread over them)
DESIGNS = ("ours", "competent", "naive")


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


class EventBench:
    def __init__(self, servers: Servers) -> None:
        self.servers = servers
        names = create_sources(servers, 3 * POOL)
        self.names = {d: names[i * POOL : (i + 1) * POOL] for i, d in enumerate(DESIGNS)}
        self.sync = servers.engine(self.names["ours"], servers.ours)
        seed_targets(self.sync, self.names["ours"])
        anchors = self.names["competent"] + self.names["naive"]
        seed_targets(servers.engine(anchors, servers.theirs), anchors)
        self.competent, self.naive = Competent(servers), Naive(servers)
        self.writer = servers.boto3()  # the "application" rotating secrets
        self.ms: dict[str, list[float]] = {d: [] for d in DESIGNS}
        self.calls = {d: Calls() for d in DESIGNS}
        self.wrong = 0

    def rotate(self, name: str, value: str) -> tuple[str, str]:
        response = self.writer.put_secret_value(SecretId=name, SecretString=value)
        return str(response["ARN"]), str(response["VersionId"])

    def handle(self, design: str, name: str, arn: str, version: str) -> None:
        """One event through ``design``'s handler."""
        if design == "ours":
            [outcome] = self.sync.sync_event(label_event(arn, name, version))
            self.wrong += outcome.action != "updated"
        elif design == "competent":
            self.wrong += not self.competent.sync(name, version)
        else:
            self.naive.sync(name, version)

    def once(self, design: str, i: int) -> None:
        name = self.names[design][i % POOL]
        arn, version = self.rotate(name, f"{design}-{i}")
        emu = self.servers.ours if design == "ours" else self.servers.theirs
        with self.servers.counting(emu) as calls:
            start = time.perf_counter()
            self.handle(design, name, arn, version)
            self.ms[design].append((time.perf_counter() - start) * 1000)
        self.calls[design].aws += calls.aws
        self.calls[design].oci += calls.oci

    def run(self, events: int) -> None:
        for i in range(events):  # rotate who goes first so drift hits all alike
            for design in DESIGNS[i % 3 :] + DESIGNS[: i % 3]:
                self.once(design, i)

    def redeliver(self, design: str, times: int) -> int:
        """OCI writes caused by one event delivered ``times`` times."""
        name = self.names[design][0]
        arn, version = self.rotate(name, "redelivered")
        emu = self.servers.ours if design == "ours" else self.servers.theirs
        with self.servers.counting(emu) as calls:
            for _ in range(times):
                self.handle(design, name, arn, version)
        return calls.writes


def per_event(calls: Calls, events: int) -> str:
    merged = Counter({f"aws.{k}": v for k, v in calls.aws.items()})
    merged.update({f"oci.{k}": v for k, v in calls.oci.items()})
    return " ".join(f"{k}={v / events:.2f}" for k, v in sorted(merged.items()))


def bench_events(events: int, redeliveries: int) -> bool:
    progress(f"events: seeding 3 x {POOL} secrets, then {events} events per design ...")
    servers = Servers()
    try:
        bench = EventBench(servers)
        bench.run(events)
        ok = _latency_lines(bench.ms)
        print(f"# events: {events} per design; handler did not sync the version: {bench.wrong}")
        for design in DESIGNS:
            print(f"# calls per event, {design}: {per_event(bench.calls[design], events)}")
        written = {d: bench.redeliver(d, redeliveries) for d in DESIGNS}
        print(
            f"# OCI writes for one event delivered {redeliveries} times, naive: {written['naive']}"
        )
        ours, anchor = written["ours"], written["competent"]
        claim = f"redelivered_event_versions_x{redeliveries}"
        return ok & line(claim, ours, anchor, anchor / ours if ours else 1, "ours=1", ours == 1)
    finally:
        servers.close()


def _latency_lines(ms: dict[str, list[float]]) -> bool:
    ok = True
    stats: dict[str, Callable[[list[float]], float]] = {
        "p50": statistics.median,
        "p95": lambda xs: statistics.quantiles(xs, n=20)[-1],
    }
    for claim, stat in stats.items():
        ours, anchor = stat(ms["ours"]), stat(ms["competent"])
        ok &= line(f"event_latency_{claim}_ms", ours, anchor, anchor / ours, ">=0.5",
                   anchor / ours >= 0.5)  # fmt: skip
        print(f"# event latency {claim}, naive: {stat(ms['naive']):.2f} ms")
    return ok
