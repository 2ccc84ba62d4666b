"""``/ui/hello``: the counts, and a form to greet someone."""

from __future__ import annotations

from collections.abc import Mapping

from skybridge.apps.kit.web import AppPage, Column, Table, pipeline_charts
from skybridge_hello.greetings import Context, counts, greet

COLUMNS = (Column("name"), Column("count", numeric=True))


def render_page(ctx: Context, message: str | None = None) -> AppPage:
    rows = [{"name": name, "count": n} for name, n in sorted(counts(ctx).items())]
    counted = Table(COLUMNS, rows, empty="No greetings yet.", name="counts")
    charts = pipeline_charts("hello-counter")
    return AppPage(
        "skybridge_hello", "hello.html", {"counts": counted, "charts": charts, "message": message}
    )


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    name = form.get("name", "").strip()
    if not name:
        return render_page(ctx, "Give a name to greet.")
    return render_page(ctx, greet(ctx, name[:100]))
