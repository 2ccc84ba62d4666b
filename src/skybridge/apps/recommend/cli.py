"""``skybridge recommend load|ingest|feedback|serve|train|recommend|generate|show|status|...``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from skybridge.apps.kit.cli import (
    Json,
    app_context,
    cli_session,
    console,
    counted,
    emit_json,
    progress_bar,
    result_table,
    styled,
)
from skybridge.apps.recommend.catalogue import read_items
from skybridge.apps.recommend.events import parse_event, time_text
from skybridge.apps.recommend.generative import generate
from skybridge.apps.recommend.metrics import feedback_metrics
from skybridge.apps.recommend.pipeline import drain_events, serve_forever
from skybridge.apps.recommend.ranking import check_categories, recommend
from skybridge.apps.recommend.service import Recommender, open_recommender
from skybridge.apps.recommend.status import profile_view, status, version_rows
from skybridge.apps.recommend.training import retrain
from skybridge.core.errors import NotFound, ValidationError

recommend_app = typer.Typer(
    help="Real-time recommendations: events, ALS item vectors, per-event user updates.",
    no_args_is_help=True,
)

K = Annotated[int | None, typer.Option("--k", "-k", help="Items (default recommend.top_k).")]
Categories = Annotated[
    list[str] | None, typer.Option("--category", help="Only this category (repeat for several).")
]


def _progress(ctx: typer.Context) -> Progress:
    return progress_bar(
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )


@recommend_app.command("load")
def load_command(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="Catalogue CSV (id,title,category,available) or JSONL.")
    ],
    as_json: Json = False,
) -> None:
    """Load or update catalogue items (availability changes reach the served index at once)."""
    items = read_items(path)
    with open_recommender(app_context(ctx, "recommend")) as engine:
        engine.catalogue.put(items)
        changed = engine.versions.update_items({i.id: i for i in items})
    report = {"items": len(items), "index_updated": changed}
    if as_json:
        emit_json(report)
        return
    cli_session(ctx).out.print(f"{len(items)} items loaded; {changed} changed in the served index")


#: Events published per call by ``ingest``.
PUBLISH_BATCH = 1000


@recommend_app.command("ingest")
def ingest_command(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="Events as JSON Lines or CSV lines user,item,kind,ts.")
    ],
    skip: Annotated[
        int,
        typer.Option(
            "--skip",
            min=0,
            help="Publish all but the first N events (to finish an interrupted ingest).",
        ),
    ] = 0,
    as_json: Json = False,
) -> None:
    """Publish a file of events to the topic (all are checked before any is sent).

    Events carry no id, so a file published twice is counted twice: after an interruption,
    finish it with the --skip the interruption printed.
    """
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    events = []
    for n, line in enumerate(lines, 1):
        try:
            events.append(parse_event(line))
        except ValidationError as exc:
            raise ValidationError(f"{path} line {n}: {exc.message}", hint=exc.hint) from None
    if skip > len(events):
        raise ValidationError(f"--skip {skip} is more than the {len(events)} events of {path}")
    done = skip
    try:
        with open_recommender(app_context(ctx, "recommend")) as engine, _progress(ctx) as bar:
            task = bar.add_task("publishing", total=len(events) - skip)
            for start in range(skip, len(events), PUBLISH_BATCH):
                bar.advance(task, engine.publish(events[start : start + PUBLISH_BATCH]))
                done = min(start + PUBLISH_BATCH, len(events))
    except KeyboardInterrupt:
        console(stderr=True).print(
            f"{done} of {len(events)} events were published before the interruption (a batch "
            f"being sent may be partly published); to publish the rest once: skybridge "
            f"recommend ingest {path} --skip {done}"
        )
        raise
    published = len(events) - skip
    if as_json:
        emit_json({"published": published, "skipped": skip})
        return
    cli_session(ctx).out.print(
        f"{counted(published, 'event')} published" + (f" ({skip} skipped)" if skip else "")
    )


@recommend_app.command("feedback")
def feedback_command(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="User id.")],
    item: Annotated[str, typer.Argument(help="Item id.")],
    kind: Annotated[str, typer.Argument(help="view, click, purchase, rec_click or rec_ignore.")],
    segment: Annotated[str | None, typer.Option("--segment", help="The user's segment.")] = None,
    as_json: Json = False,
) -> None:
    """Publish one event (a view, click or purchase, or feedback on a recommendation).

    The item must be in the catalogue: an unknown one is refused and nothing is published.
    """
    event = parse_event({"user": user, "item": item, "kind": kind, "segment": segment})
    if event.kind == "rec_served":
        raise ValidationError("rec_served events are published by the serving path")
    with open_recommender(app_context(ctx, "recommend")) as engine:
        if engine.catalogue.get(event.item) is None:
            raise NotFound(
                f"item {event.item!r} is not in the catalogue; nothing was published",
                hint="give the id of a catalogue item (skybridge recommend load FILE adds items)",
            )
        engine.publish([event])
    if as_json:
        emit_json(event.to_dict())
        return
    cli_session(ctx).out.print(f"{kind} of {item} by {user} published to {engine.config.topic}")


@recommend_app.command("serve")
def serve_command(
    ctx: typer.Context,
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help="Stop once every event on the topic is applied."),
    ] = False,
    as_json: Json = False,
) -> None:
    """Update user profiles from the topic until SIGTERM/SIGINT (or until idle).

    `skybridge up` also serves /api/recommend."""
    app = app_context(ctx, "recommend")
    if until_idle:
        applied = drain_events(app)
        if as_json:
            emit_json({"applied": applied})
            return
        cli_session(ctx).out.print(f"{applied} events applied; the topic is drained")
        return
    # status, not a result: stdout stays empty (with --json, it holds JSON only)
    console(stderr=True).print("recommend event pipeline running; Ctrl-C to stop")
    serve_forever(app)


@recommend_app.command("train")
def train_command(
    ctx: typer.Context,
    window_days: Annotated[
        float | None,
        typer.Option("--window-days", help="Days of events (default recommend.window_days)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Retrain item vectors on the window and swap the new model version in."""
    with open_recommender(app_context(ctx, "recommend")) as engine, _progress(ctx) as bar:
        task = bar.add_task("training", total=3)
        report = retrain(
            engine,
            window_days=window_days,
            progress=lambda s: bar.update(task, description=s, advance=1),
        )
    if as_json:
        emit_json(report.to_dict())
        return
    out = cli_session(ctx).out
    if not report.trained:
        out.print(styled("[yellow]not trained:[/] {}", report.reason))
        return
    out.print(
        styled(
            "model [bold]{}[/] is served ({} users, {} items, {} interactions, {:.1f} s); "
            "previous {}",
            report.version,
            report.users,
            report.items,
            report.interactions,
            report.seconds,
            report.previous or "—",
        )
    )


@recommend_app.command("recommend")
def recommend_command(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="User id.")],
    k: K = None,
    category: Categories = None,
    segment: Annotated[
        str | None, typer.Option("--segment", help="Segment for a cold start.")
    ] = None,
    as_json: Json = False,
) -> None:
    """The items to show USER now.

    Each --category must be one the catalogue has.
    """
    with open_recommender(app_context(ctx, "recommend")) as engine:
        wanted = _catalogue_categories(engine, category)
        found = recommend(engine, user, k=k, categories=wanted, segment=segment)
    if as_json:
        emit_json(found.to_dict())
        return
    table = result_table(
        f"{user}: {found.strategy} (model {found.version or '—'})",
        "item",
        "title",
        "category",
        "score",
        "why",
    )
    for r in found.items:
        table.add_row(r.item, r.title, r.category, f"{r.score:.4f}", r.reason)
    cli_session(ctx).out.print(table)


@recommend_app.command("generate")
def generate_command(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="User id.")],
    context: Annotated[str, typer.Option("--context", help="What the user is doing now.")] = "",
    k: K = None,
    category: Categories = None,
    as_json: Json = False,
) -> None:
    """Items the language model (backends.llm) proposes, checked against the catalogue.

    Each --category must be one the catalogue has.
    """
    with open_recommender(app_context(ctx, "recommend")) as engine:
        wanted = _catalogue_categories(engine, category)
        found = generate(engine, user, context=context, k=k, categories=wanted)
    if as_json:
        emit_json(found.to_dict())
        return
    table = result_table(f"{user}: proposed by {found.model}", "item", "title", "reason")
    for p in found.items:
        table.add_row(p.item, p.title, p.reason)
    out = cli_session(ctx).out
    out.print(table)
    for p in found.rejected:
        out.print(styled("[yellow]refused[/] {}: {}", p.item, p.reason))


#: Categories a refused --category lists, at most.
_CATEGORIES_LISTED = 8


def _catalogue_categories(engine: Recommender, categories: list[str] | None) -> tuple[str, ...]:
    """The --category names, refused (exit 2) unless the catalogue has each: an unknown one
    would only empty the answer. The catalogue is read here, not on the HTTP path."""
    wanted = check_categories(categories or ())
    known: set[str] = set()
    for item in engine.catalogue if wanted else ():
        known.add(item.category)
        if known.issuperset(wanted):
            return wanted
    missing = [c for c in dict.fromkeys(wanted) if c not in known]
    if not missing:
        return wanted
    some = sorted(c for c in known if c)
    listed = ", ".join(some[:_CATEGORIES_LISTED])
    if len(some) > _CATEGORIES_LISTED:
        listed += f" and {len(some) - _CATEGORIES_LISTED} more"
    hint = (
        f"categories it has: {listed}"
        if some
        else "it has none yet: skybridge recommend load FILE adds items with their categories"
    )
    words = "category {} is" if len(missing) == 1 else "categories {} are"
    raise NotFound(f"{words.format(', '.join(map(repr, missing)))} not in the catalogue", hint=hint)


@recommend_app.command("show")
def show_command(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="User id.")],
    as_json: Json = False,
) -> None:
    """A user's recent events and current recommendations (nothing is recorded as served)."""
    with open_recommender(app_context(ctx, "recommend")) as engine:
        view: dict[str, Any] = profile_view(engine, user)
        view["recommendations"] = recommend(engine, user, record=False).to_dict()
    if as_json:
        emit_json(view)
        return
    out = cli_session(ctx).out
    table = result_table(
        f"{user}: recent events (segment {view['segment'] or '—'})", "when", "kind", "item", "title"
    )
    for e in view["recent"]:
        table.add_row(time_text(e["ts"]), e["kind"], e["item"], e["title"])
    out.print(table)
    recs = result_table("recommendations", "item", "title", "score", "why")
    for r in view["recommendations"]["items"]:
        recs.add_row(r["item"], r["title"], f"{r['score']:.4f}", r["reason"])
    out.print(recs)


@recommend_app.command("status")
def status_command(ctx: typer.Context, as_json: Json = False) -> None:
    """The served model, catalogue, users and the window's click-through and coverage."""
    with open_recommender(app_context(ctx, "recommend")) as engine:
        report = status(engine)
    if as_json:
        emit_json(report)
        return
    model, m = report["model"], report["metrics"]
    table = result_table("recommend", "what", "value")
    table.add_row("model", f"{model['version']} ({model['items']} items)" if model else "none yet")
    table.add_row("catalogue items", str(report["catalogue_items"]))
    table.add_row("users", str(report["users"]))
    table.add_row("click-through", _ratio(m["click_through"]))
    table.add_row("coverage", _ratio(m["coverage"]))
    cli_session(ctx).out.print(table)


@recommend_app.command("list")
def list_command(ctx: typer.Context, as_json: Json = False) -> None:
    """Kept model versions, newest first."""
    with open_recommender(app_context(ctx, "recommend")) as engine:
        rows = version_rows(engine)
    if as_json:
        emit_json(rows)
        return
    table = result_table(
        "model versions", "version", "served", "users", "items", "interactions", "trained"
    )
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["trained_at"]))
        table.add_row(
            r["version"],
            "yes" if r["current"] else "",
            str(r["users"]),
            str(r["items"]),
            str(r["interactions"]),
            when,
        )
    cli_session(ctx).out.print(table)


@recommend_app.command("report")
def report_command(
    ctx: typer.Context,
    days: Annotated[float, typer.Option("--days", min=1, max=366, help="Days back.")] = 7.0,
    as_json: Json = False,
) -> None:
    """Click-through and catalogue coverage of what was served."""
    with open_recommender(app_context(ctx, "recommend")) as engine:
        report = feedback_metrics(engine, days)
    if as_json:
        emit_json(report)
        return
    table = result_table(f"feedback, last {days:g} days", "metric", "value")
    for key in ("served", "impressions", "rec_click", "rec_ignore", "purchase", "items_shown"):
        table.add_row(key, str(report[key]))
    table.add_row("click-through", _ratio(report["click_through"]))
    table.add_row("coverage", _ratio(report["coverage"]))
    cli_session(ctx).out.print(table)


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
