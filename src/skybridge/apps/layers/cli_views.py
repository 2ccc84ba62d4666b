"""How a build report reads in a terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from skybridge.apps.kit.cli import counted, result_table, styled

_COLOURS = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "unknown": "magenta",
}


def mb(size: float) -> str:
    """``12.3 MB``, or ``4.5 kB`` below a tenth of a megabyte."""
    if abs(size) < 2**20 / 10:
        return f"{size / 1024:.1f} kB"
    return f"{size / 2**20:.1f} MB"


def share_of_limit(unzipped: float, left: float) -> str:
    """``12.3%`` of the limit (``unzipped + left``) used, ``<0.1%`` for a tiny layer."""
    share = unzipped / (unzipped + left)
    return "<0.1%" if 0 < share < 0.001 else f"{share:.1%}"


def print_report(out: Console, record: dict[str, Any]) -> None:
    """Sizes, largest packages, smoke test, findings and verdict of one build record."""
    cached = " (from cache)" if record["cached"] else ""
    out.print(
        styled(
            "[bold]{}[/] for {}/{}{}: {} zipped, {} unzipped, {} packages; "
            "{} of Lambda's 250 MB unzipped limit",
            record["name"],
            record["runtime"],
            record["architecture"],
            cached,
            mb(record["zipped"]),
            mb(record["unzipped"]),
            len(record["packages"]),
            share_of_limit(record["unzipped"], record["budget_left"]),
        )
    )
    removed = sum(record["slim"]["removed_bytes"].values())
    out.print(
        f"slimming removed {mb(removed)} ({record['slim']['removed_files']} files); dist-info kept"
    )
    largest = result_table("Largest packages", "package", "size")
    for row in record["largest"][:5]:
        largest.add_row(row["name"], mb(row["size"]))
    out.print(largest)
    _smoke(out, record.get("smoke"))
    _scan(out, record.get("scan"))
    timing = record.get("cold_start")
    if timing:
        out.print(
            f"cold-start proxy: imports take {timing['source_only_s'] * 1000:.0f} ms from source, "
            f"{timing['with_bytecode_s'] * 1000:.0f} ms with bytecode ({timing['speedup']}x)"
        )
    verdict = (
        styled("[green]may ship[/]")
        if record["passed"]
        else styled("[red]must not ship: {}[/]", "; ".join(record["problems"]))
    )
    out.print(verdict)


def _smoke(out: Console, smoke: dict[str, Any] | None) -> None:
    if smoke is None:
        return
    if not smoke["ran"]:
        out.print(styled("[yellow]smoke test not run:[/] {}", smoke["reason"]))
        return
    word = "[green]passed[/]" if smoke["passed"] else "[red]failed[/]"
    out.print(
        styled(
            "smoke test " + word + " in {}: {} imported, version metadata checked",
            smoke["interpreter"] or "",
            counted(len(smoke["packages"]) - len(smoke["skipped"]), "package"),
        )
    )
    for line in smoke["failures"][:10]:
        out.print(styled("  [red]{}[/]", line))
    for line in smoke["skipped"]:
        out.print(styled("  [yellow]not run:[/] {}", line))


def _scan(out: Console, scan: dict[str, Any] | None) -> None:
    if scan is None:
        return
    for note in scan["notes"]:
        out.print(styled("[yellow]{}[/]", note))
    if not scan["findings"]:
        out.print(styled("[green]scan: no findings[/]"))
        return
    table = result_table(
        f"Findings (fail on {scan['fail_on']})", "id", "package", "severity", "fix"
    )
    for f in scan["findings"]:
        colour = _COLOURS.get(f["severity"], "white")
        table.add_row(
            f["id"],
            f"{f['package']} {f['version']}",
            styled("[" + colour + "]{}[/]", f["severity"]),
            f["fix"],
        )
    out.print(table)
