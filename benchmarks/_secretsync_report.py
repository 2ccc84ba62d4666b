"""Claim and progress lines for benchmarks/secretsync.py."""

from __future__ import annotations

import sys
import time


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def fmt(x: float) -> str:
    if x == float("inf"):
        return "inf"
    return str(int(x)) if float(x).is_integer() else f"{x:.3g}" if x < 10 else f"{x:.1f}"


def line(claim: str, ours: float, anchor: float, ratio: float, goal: str, ok: bool) -> bool:
    print(
        f"{claim}: ours={fmt(ours)} anchor={fmt(anchor)} ratio={fmt(ratio)} "
        f"goal={goal} {'PASS' if ok else 'FAIL'}",
        flush=True,
    )
    return ok


def fewer(ours: float, anchor: float) -> float:
    """``anchor / ours`` (higher is better for us); ``inf`` for 0 vs more, 1 for 0 vs 0."""
    if ours:
        return anchor / ours
    return float("inf") if anchor else 1.0


def claims(
    prefix: str, ours: tuple[float, float, float], anchor: tuple[float, float, float]
) -> bool:
    """The calls, writes and wall-time lines of one reconcile against the competent anchor:
    ``(calls, writes, seconds)`` each."""
    calls = fewer(ours[0], anchor[0])
    ok = line(f"{prefix}_api_calls", ours[0], anchor[0], calls, ">=5", calls >= 5)
    writes = fewer(ours[1], anchor[1])
    ok &= line(f"{prefix}_writes", ours[1], anchor[1], writes, "ours=0", ours[1] == 0)
    wall = fewer(ours[2], anchor[2])
    return ok & line(f"{prefix}_wall_s", ours[2], anchor[2], wall, ">=1", wall >= 1)
