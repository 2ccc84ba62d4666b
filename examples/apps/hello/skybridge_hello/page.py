"""``/ui/hello``: the counts, and a form to greet someone."""

from __future__ import annotations

from collections.abc import Mapping

from skybridge.apps.kit.web import AppPage
from skybridge_hello.greetings import Context, counts, greet


def render_page(ctx: Context, message: str | None = None) -> AppPage:
    rows = sorted(counts(ctx).items())
    return AppPage("skybridge_hello", "hello.html", {"rows": rows, "message": message})


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    name = form.get("name", "").strip()
    if not name:
        return render_page(ctx, "Give a name to greet.")
    return render_page(ctx, greet(ctx, name[:100]))
