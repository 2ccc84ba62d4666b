"""What the ``skybridge costs`` commands share: the group, date options, the app on this
invocation's settings, and number formats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import typer
from rich.console import Console

from skybridge.apps.costs.api import Costs, open_costs
from skybridge.apps.kit.cli import app_context, cli_session
from skybridge.core.errors import ValidationError

costs_app = typer.Typer(
    help="Multi-cloud cost governance on FOCUS data (AWS + OCI).", no_args_is_help=True
)

From = Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")]
To = Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC), inclusive.")]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="The day to judge, YYYY-MM-DD (default: last day with data)."),
]


def parse_day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{option} {text!r} is not a date", hint="write YYYY-MM-DD, e.g. 2024-09-30"
        ) from None


@contextmanager
def costs(ctx: typer.Context) -> Iterator[Costs]:
    with open_costs(app_context(ctx, "costs")) as api:
        yield api


def out(ctx: typer.Context) -> Console:
    return cli_session(ctx).out


def money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
