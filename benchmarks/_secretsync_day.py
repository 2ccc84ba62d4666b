"""The reconcile part of benchmarks/secretsync.py: a simulated day of hourly reconciles.

Ours runs on a manual clock shared by its engine and its emulator; between reconciles the clock
moves an hour in quarters, and each quarter the applications' reads of a quarter of the secrets
are recorded in ours' Audit log (``OciEmulator.simulate_reads``). The competent baseline does
the same work every run; it runs right after ours' hourly runs of hours 1-4 and every fourth hour
after, so the machine's drift over the day hits both.
"""

from __future__ import annotations

import base64
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import oci
from _secretsync_anchors import Competent, Naive
from _secretsync_report import claims, fewer, progress
from _secretsync_setup import Calls, Servers, create_sources, manual_clock, seed_targets
from oci.vault.models import Base64SecretContentDetails, UpdateSecretDetails

HOURS = 24
#: Hours after which the competent baseline runs too (its first three are the second
#: reconcile's comparison, all of them the daily average's).
COMPETENT_HOURS = (1, 2, 3, 4, 8, 12, 16, 20, 24)


@dataclass
class Run:
    calls: Calls
    seconds: float
    report: Any = None

    def brief(self) -> str:
        return f"{self.calls.brief()}; {self.calls.total} calls; {self.seconds:.2f} s"


class Day:
    """One size: the servers, the secrets on both sides, ours' engine and the anchors."""

    def __init__(self, size: int, app_reads: int) -> None:
        self.clock = manual_clock()
        self.servers = Servers(self.clock)
        self.names = create_sources(self.servers, size)
        self.sync = self.servers.engine(self.names, self.servers.ours, self.clock)
        seed_targets(self.sync, self.names)
        seed_targets(self.servers.engine(self.names, self.servers.theirs), self.names)
        self.competent, self.naive = Competent(self.servers), Naive(self.servers)
        self.app_reads = app_reads

    def ours(self, *, dry_run: bool = False) -> Run:
        with self.servers.counting(self.servers.ours) as calls:
            started = time.perf_counter()
            report = self.sync.reconcile(dry_run=dry_run)
            seconds = time.perf_counter() - started
        return Run(calls, seconds, report)

    def ours_best_of(self, rounds: int) -> Run:
        """The reconcile, timed best of ``rounds``: dry runs first (the same reads; they write
        nothing and leave the watermark), then the real one, whose calls count."""
        dry = [self.ours(dry_run=True).seconds for _ in range(rounds - 1)]
        real = self.ours()
        return Run(real.calls, min([*dry, real.seconds]), real.report)

    def anchor(self, design: Competent | Naive) -> Run:
        with self.servers.counting(self.servers.theirs) as calls:
            started = time.perf_counter()
            design.reconcile(self.names)
            seconds = time.perf_counter() - started
        return Run(calls, seconds)

    def hour(self) -> None:
        """An hour passes; every secret is read ``app_reads`` times by its applications."""
        vault_id = self.servers.vault(self.servers.ours)[0]
        for quarter in range(4):
            self.clock.advance(900)
            reads = self.names[quarter::4] * self.app_reads
            self.servers.ours.simulate_reads(vault_id, reads)

    def edit_repaired(self) -> tuple[bool, bool]:
        """A target edited by another OCI user (a console edit), on both sides: does the next
        reconcile of ours (an hour later) and of the competent baseline repair it?"""
        name = self.names[len(self.names) // 2]
        for emu in (self.servers.ours, self.servers.theirs):
            _edit_as_other_user(emu, self.servers.vault(emu)[0], name)
        self.hour()
        [action] = [a for a in self.ours().report.plan.actions if a.mapping == name]
        ours_ok = action.action == "repair" and self._held(self.servers.ours, name) != "edited"
        self.anchor(self.competent)
        return ours_ok, self._held(self.servers.theirs, name) != "edited"

    def _held(self, emu: Any, name: str) -> str:
        store = self.servers.engine([name], emu).backends.get("oci")
        return str(store.get_value(name).value.reveal())


def _edit_as_other_user(emu: Any, vault_id: str, name: str) -> None:
    cfg = emu.add_user()
    bundles = oci.secrets.SecretsClient(cfg, service_endpoint=emu.endpoint)
    secret_id = bundles.get_secret_bundle_by_name(name, vault_id).data.secret_id
    content = Base64SecretContentDetails(content=base64.b64encode(b"edited").decode())
    vaults = oci.vault.VaultsClient(cfg, service_endpoint=emu.endpoint)
    vaults.update_secret(secret_id, UpdateSecretDetails(secret_content=content))


def run_day(day: Day) -> tuple[Run, list[Run], list[Run]]:
    """Ours' first reconcile, its hourly ones (hours 1-24) and the competent baseline's runs."""
    size = len(day.names)
    progress(f"reconcile {size}: ours' first reconcile (full sweep) ...")
    first = day.ours()
    hourly: list[Run] = []
    competent: list[Run] = []
    for hour in range(1, HOURS + 1):
        day.hour()
        hourly.append(day.ours_best_of(3) if hour == 1 else day.ours())
        progress(f"reconcile {size}: hour {hour:>2}: ours {hourly[-1].brief()}")
        if hour in COMPETENT_HOURS:
            competent.append(day.anchor(day.competent))
            progress(f"reconcile {size}: hour {hour:>2}: competent {competent[-1].brief()}")
    return first, hourly, competent


def bench_reconcile(size: int, app_reads: int, naive_max: int) -> bool:
    progress(f"reconcile {size}: seeding {size} AWS secrets and both sides' OCI targets ...")
    started = time.perf_counter()
    day = Day(size, app_reads)
    try:
        print(f"# reconcile {size}: seeded in {time.perf_counter() - started:.1f} s", flush=True)
        first, hourly, competent = run_day(day)
        naive = None
        if size <= naive_max:
            progress(f"reconcile {size}: naive (original Lambda) ...")
            naive = day.anchor(day.naive)
        repaired = day.edit_repaired()
        return report(size, app_reads, first, hourly, competent, naive, repaired)
    finally:
        day.servers.close()


def report(
    size: int,
    app_reads: int,
    first: Run,
    hourly: list[Run],
    competent: list[Run],
    naive: Run | None,
    repaired: tuple[bool, bool],
) -> bool:
    base = competent[0].calls
    assert all(r.calls.total == base.total for r in competent), "competent runs differ"
    anchor = (float(base.total), float(base.writes), statistics.mean(r.seconds for r in competent))
    early = (anchor[0], anchor[1], min(r.seconds for r in competent[:3]))
    p = f"# reconcile {size}"
    print(f"{p} ({app_reads} application read(s) per secret per hour in ours' Audit log)")
    hours = ",".join(map(str, COMPETENT_HOURS))
    print(f"{p} competent, every run: {base.brief()}; mean {anchor[2]:.2f} s over hours "
          f"{hours}; best of hours 1-3 {early[2]:.2f} s")  # fmt: skip
    if naive is not None:
        print(f"{p} naive (original Lambda): {naive.brief()}; writes {naive.calls.writes}")
    else:
        print(f"{p} naive (original Lambda): not run at this size (--naive-max); by design it "
              f"makes 3 calls and 1 write per secret, serially")  # fmt: skip
    print(f"{p} ours first (full sweep, no watermark yet): {first.brief()}; "
          f"{fewer(first.calls.total, anchor[0]):.3g}x fewer calls than competent")  # fmt: skip
    second = hourly[0]
    plan = Counter(a.action for a in second.report.plan.actions)
    read = sum(1 for a in second.report.plan.actions if a.check.startswith("read:"))
    print(f"{p} ours second (hour 1): {second.brief()}; plan {dict(plan)}; targets read {read}")
    steady = sorted(hourly[1:-1], key=lambda r: r.calls.total)[len(hourly[1:-1]) // 2]
    print(f"{p} ours hourly, median of hours 2-{HOURS - 1}: {steady.brief()}")
    print(f"{p} ours hour {HOURS} (the daily sweep): {hourly[-1].brief()}")
    print(f"{p} out-of-band edit repaired by the next reconcile: ours {repaired[0]}, "
          f"competent {repaired[1]}")  # fmt: skip
    day_avg = (
        statistics.mean(r.calls.total for r in hourly),
        statistics.mean(r.calls.writes for r in hourly),
        statistics.mean(r.seconds for r in hourly),
    )
    ours_second = (float(second.calls.total), float(second.calls.writes), second.seconds)
    ok = claims(f"reconcile_noop_{size}_second", ours_second, early)
    ok &= claims(f"reconcile_noop_{size}_daily_avg", day_avg, anchor)
    return ok and all(repaired)
