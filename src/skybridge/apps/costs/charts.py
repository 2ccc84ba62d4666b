"""Charts as PNG or SVG (matplotlib, no display): the spend trend with the month's forecast
band, the top services and the untagged share per provider. The CLI writes them to files; the
dashboard shows the SVGs as images."""

from __future__ import annotations

import io
from datetime import date
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

Format = Literal["png", "svg"]
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def _render(fig: Figure, fmt: Format) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(
        buffer,
        format=fmt,
        bbox_inches="tight",
        dpi=110,
        metadata={"Date": None} if fmt == "svg" else None,
    )
    plt.close(fig)
    return buffer.getvalue()


def _figure() -> tuple[Figure, Any]:
    fig, axes = plt.subplots(figsize=(7.5, 3.2))
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", alpha=0.3)
    return fig, axes


def trend_chart(
    report: dict[str, Any], forecast: dict[str, Any] | None, fmt: Format = "svg"
) -> bytes:
    """Daily EffectiveCost per provider (stacked areas), and the forecast with its 90% band."""
    fig, axes = _figure()
    daily = report["daily"]
    providers = sorted(daily)
    if providers:
        days = [date.fromisoformat(x["day"]) for x in daily[providers[0]]]
        stacks = [[x["effective_cost"] for x in daily[p]] for p in providers]
        axes.stackplot(days, stacks, labels=providers, colors=PALETTE[: len(providers)], alpha=0.85)
    if forecast and forecast.get("days"):
        fdays = [date.fromisoformat(x["day"]) for x in forecast["days"]]
        axes.plot(
            fdays,
            [x["expected"] for x in forecast["days"]],
            color="#111827",
            linestyle="--",
            label="forecast",
        )
        axes.fill_between(
            fdays,
            [x["low"] for x in forecast["days"]],
            [x["high"] for x in forecast["days"]],
            color="#9ca3af",
            alpha=0.35,
            label="90% band",
        )
    axes.set_title("Daily spend (EffectiveCost)", loc="left")
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    return _render(fig, fmt)


def bar_chart(
    title: str,
    rows: list[dict[str, Any]],
    value: str,
    fmt: Format = "svg",
    *,
    percent: bool = False,
) -> bytes:
    """Horizontal bars of ``rows[i][value]`` labelled by ``rows[i]['value']`` (largest on top)."""
    fig, axes = _figure()
    labels = [str(r["value"])[:40] for r in rows][::-1]
    values = [float(r[value]) * (100 if percent else 1) for r in rows][::-1]
    axes.barh(labels, values, color=PALETTE[0])
    axes.set_title(title, loc="left")
    if percent:
        axes.set_xlim(0, 100)
        axes.set_xlabel("% of taggable spend")
    axes.tick_params(axis="y", labelsize=8)
    return _render(fig, fmt)


def all_charts(
    report: dict[str, Any], forecast: dict[str, Any] | None, compliance: dict[str, Any], fmt: Format
) -> dict[str, bytes]:
    """Every chart by file stem: ``trend``, ``top-services``, ``untagged-share``."""
    providers = [
        {"value": r["value"], "share": r["noncompliant_share"]}
        for r in compliance["by"]["provider"]
    ]
    return {
        "trend": trend_chart(report, forecast, fmt),
        "top-services": bar_chart(
            "Top services (EffectiveCost)", report["services"], "effective_cost", fmt
        ),
        "untagged-share": bar_chart(
            "Spend breaking the tag policy, by provider", providers, "share", fmt, percent=True
        ),
    }
