"""``skybridge features ...``: definitions, the pipeline, reads, training sets and predictions.

Exit codes: 0 ok; 1 a store or model failed; 2 bad input (an unknown view or entity file, a
malformed definition, a missing column), each with a message saying what to fix.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.text import Text

from skybridge.apps.features import operations as commands
from skybridge.apps.features.definitions import load_views
from skybridge.apps.features.display import shown, time_features
from skybridge.apps.features.logcli import log_app
from skybridge.apps.features.maintenance import ByHand, LastCompaction, last_compaction
from skybridge.apps.features.store import FeatureStore, open_store
from skybridge.apps.kit.cli import (
    Json,
    app_context,
    cli_session,
    counted,
    emit_json,
    progress_bar,
    result_table,
    styled,
)
from skybridge.apps.kit.timefmt import ago
from skybridge.core.clock import when

features_app = typer.Typer(
    help="Streaming features: online store, offline log, training sets, predictions.",
    no_args_is_help=True,
)
features_app.add_typer(log_app, name="log")
ViewOpt = Annotated[str | None, typer.Option("--view", help="Feature view (default the first).")]


@contextmanager
def _store(
    ctx: typer.Context, *, model: bool = False, streams: bool = False
) -> Iterator[FeatureStore]:
    with open_store(app_context(ctx, "features"), model=model, streams=streams) as store:
        yield store


def _print(ctx: typer.Context, renderable: Any) -> None:
    cli_session(ctx).out.print(renderable)


@features_app.command("list")
def list_views(ctx: typer.Context, json_out: Json = False) -> None:
    """The feature views and their features."""
    with _store(ctx) as store:
        views = [commands.view_summary(v) for v in store.views]
    if json_out:
        emit_json({"views": views})
        return
    table = result_table("Feature views", "view / feature", "aggregation", "window", "ttl", "topic")
    for view in views:
        table.add_row(
            styled("[bold]{}[/]", view["name"]), f"entity {view['entity']}", "", "", view["topic"]
        )
        for f in view["features"]:
            table.add_row(f"  {f['name']}", f["agg"], f["window"] or "", f["ttl"] or "", "")
    _print(ctx, table)


@features_app.command("status")
def status(ctx: typer.Context, json_out: Json = False) -> None:
    """Entities online, offline log size, dead letters per view; the last log compaction."""
    app = app_context(ctx, "features")
    with open_store(app, model=False, streams=True) as store:
        report = commands.status_report(store)
        last = last_compaction(app, store)
    report["compaction"] = last.to_dict()
    if json_out:
        emit_json(report)
        return
    table = result_table(
        "Features", "view", "entities online", "log files", "log bytes", "dead letters"
    )
    for row in report["views"]:
        table.add_row(
            row["name"],
            str(row["entities"]),
            str(row["log_files"]),
            str(row["log_bytes"]),
            "—" if row["dead_letters"] is None else str(row["dead_letters"]),
        )
    _print(ctx, table)
    _print(ctx, f"dead letters from cloud functions: {report['dead_letters']}")
    _print(ctx, _compaction_line(last))
    if last.by_hand is not None:
        _print(ctx, _by_hand_line(last.by_hand))


def _by_hand_line(hand: ByHand) -> Text:
    """The last compaction by hand in one line (``--json``: ``compaction.by_hand``)."""
    scope = "" if hand.view is None else f" (view {hand.view})"
    label = f"offline log compaction by hand{scope}"
    return _outcome_line(label, hand.ran_at, hand.error, hand.summary())


def _compaction_line(last: LastCompaction) -> Text:
    """The last scheduled compaction in one line (``--json``: ``compaction``)."""
    if last.ran_at is None:
        return styled(
            "offline log compaction: [yellow]never run[/] (the job features.compact has not "
            "run yet; next run {})",
            when(last.next_run) if last.next_run is not None else "not scheduled",
        )
    return _outcome_line("offline log compaction", last.ran_at, last.error, last.summary())


def _outcome_line(label: str, ran_at: float, error: str | None, summary: str | None) -> Text:
    """``LABEL: failed 3 min ago: ERROR`` or ``LABEL: succeeded 3 min ago: SUMMARY``."""
    if error is not None:
        return styled("{}: [red]failed[/] {}: {}", label, ago(ran_at), error)
    return styled("{}: [green]succeeded[/] {}: {}", label, ago(ran_at), summary)


@features_app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Feature definitions (YAML).", exists=False)],
    json_out: Json = False,
) -> None:
    """Check definitions, create their topics and make them the ones every part uses."""
    views = load_views(file)
    with _store(ctx, streams=True) as store:
        report = commands.apply_views(store, views)
    if json_out:
        emit_json(report)
        return
    for view in report["views"]:
        _print(
            ctx,
            styled(
                "[green]applied[/] view [bold]{}[/] on topic {}: {} features",
                view["name"],
                view["topic"],
                len(view["features"]),
            ),
        )


@features_app.command("get")
def get(
    ctx: typer.Context,
    entities: Annotated[list[str], typer.Argument(help="Entity keys.")],
    view: ViewOpt = None,
    json_out: Json = False,
) -> None:
    """The current features of entities (TTL enforced: stale values show as missing)."""
    with _store(ctx) as store:
        vectors = store.get(view, entities)
        times = {v.view: time_features(store.view(v.view)) for v in vectors}
    if json_out:
        emit_json({"entities": [v.to_dict() for v in vectors]})
        return
    for vector in vectors:
        fresh = (
            "unknown entity" if not vector.found else f"newest event {vector.freshness:.1f}s ago"
        )
        table = result_table(
            f"{vector.entity} ({vector.view}; {fresh})", "feature", "value", "missing"
        )
        for name, value in vector.values.items():
            table.add_row(name, shown(value.value, name in times[vector.view]), value.missing or "")
        _print(ctx, table)


@features_app.command("training-set")
def training_set(
    ctx: typer.Context,
    entities: Annotated[Path, typer.Option("--entities", help="Entity rows (.csv or .parquet).")],
    as_of: Annotated[str, typer.Option("--as-of", help="Column with each row's as-of time.")],
    view: ViewOpt = None,
    entity_column: Annotated[
        str | None, typer.Option(help="Entity key column (default the view's).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write .csv, .parquet or .json.")
    ] = None,
    json_out: Json = False,
) -> None:
    """Point-in-time features for entity rows, from the offline log (no future leaks in)."""
    with _store(ctx) as store:
        result = commands.build_training_set(store, view, entities, as_of, entity_column, out)
    if json_out or out is None:
        emit_json(result.to_dict() if out is None else {"rows": len(result.rows), "out": str(out)})
        return
    _print(
        ctx,
        styled(
            "[green]wrote[/] {} rows x {} features to {}",
            len(result.rows),
            len(result.features),
            out,
        ),
    )


@features_app.command("materialize")
def materialize(
    ctx: typer.Context,
    from_log: Annotated[
        bool, typer.Option("--from-log", help="Rebuild the online store from the offline log.")
    ] = False,
    idle_exit: Annotated[
        float, typer.Option(min=0.1, help="Stop after this many idle seconds.")
    ] = 2.0,
    json_out: Json = False,
) -> None:
    """Bring the online store up to date from the event topics or the offline log.

    Consumes the event topics until idle, or with --from-log rebuilds every entity from the
    offline log (after changing a view)."""
    app = app_context(ctx, "features")
    with _progress(ctx, json_out) as progress:
        if from_log:
            report = commands.rebuild_from_log(app, progress)
        else:
            report = commands.consume_until_idle(app, idle_exit, progress)
    if json_out:
        emit_json(report)
        return
    _print(ctx, _materialized(report))


def _materialized(report: dict[str, Any]) -> Text:
    """One line for people: what a materialize did (``--json`` has the same as data)."""
    if "entities" in report:  # --from-log
        views = ", ".join(f"{view} {n}" for view, n in sorted(report["entities"].items()))
        return styled("[green]rebuilt[/] from the offline log: {}", views or "no entity")
    written = ", ".join(f"{name} {n}" for name, n in sorted(report["written"].items()))
    return styled(
        "[green]done[/]: {} in {}, {}; written: {}",
        counted(report["records"], "record"),
        counted(report["batches"], "batch", "batches"),
        counted(report["dead_letters"], "dead letter"),
        written or "nothing",
    )


@contextmanager
def _progress(ctx: typer.Context, quiet: bool) -> Iterator[Progress]:
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with progress_bar(*columns, disable=quiet, transient=True) as bar:
        yield bar


@features_app.command("serve")
def serve(ctx: typer.Context) -> None:
    """Run the feature pipeline until SIGTERM/SIGINT (skybridge up also serves the API)."""
    app = app_context(ctx, "features")
    _print(ctx, "features pipeline running; Ctrl-C to stop")
    commands.serve_forever(app)


@features_app.command("predict")
def predict(
    ctx: typer.Context,
    entity: Annotated[str, typer.Argument(help="Entity key.")],
    inputs: Annotated[
        list[str] | None, typer.Option("--input", help="NAME=NUMBER request input.")
    ] = None,
    json_out: Json = False,
) -> None:
    """The model's prediction from the entity's current features."""
    with _store(ctx, model=True) as store:
        answer = store.predict(entity, commands.parse_inputs(inputs or []))
    if json_out:
        emit_json(answer.to_dict())
        return
    data = answer.to_dict()
    age = data["freshness_seconds"]
    fresh = "no feature value" if age is None else f"features {shown(age)}s fresh"
    _print(
        ctx,
        styled(
            "prediction [bold]{}[/] for {} (model {}, {})",
            shown(data["prediction"]),
            entity,
            data["model"],
            fresh,
        ),
    )
    if data["missing"]:
        _print(ctx, styled("[yellow]missing[/]: {} filled: {}", data["missing"], data["filled"]))


@features_app.command("feedback")
def feedback(
    ctx: typer.Context,
    prediction_id: Annotated[str, typer.Argument(help="The prediction's id.")],
    entity: Annotated[str, typer.Argument(help="Entity key.")],
    label: Annotated[str, typer.Argument(help="The outcome (a number or text).")],
    json_out: Json = False,
) -> None:
    """Publish the outcome of a prediction to the feedback topic."""
    with _store(ctx, streams=True) as store:
        sent = store.feedback(prediction_id, entity, commands.parse_label(label))
    if json_out:
        emit_json(sent)
        return
    _print(
        ctx,
        styled(
            "[green]published[/] to {} partition {} offset {}",
            sent["topic"],
            sent["partition"],
            sent["offset"],
        ),
    )


@features_app.command("train")
def train(
    ctx: typer.Context,
    entities: Annotated[
        Path, typer.Option("--entities", help="Entity rows with labels (.csv/.parquet).")
    ],
    as_of: Annotated[str, typer.Option("--as-of", help="Column with each row's as-of time.")],
    label: Annotated[str, typer.Option("--label", help="Label column.")],
    json_out: Json = False,
) -> None:
    """Train a scikit-learn model on a point-in-time training set.

    The model is saved where the local:// model URL points; predictions use it at once."""
    started = time.perf_counter()
    with _store(ctx) as store:
        trained = commands.train_model(app_context(ctx, "features"), store, entities, as_of, label)
    if json_out:
        emit_json(trained.to_dict())
        return
    _print(
        ctx,
        styled(
            "[green]trained[/] {} on {} rows (score {:.3f}) in {:.1f}s -> {}",
            trained.kind,
            trained.rows,
            trained.score,
            time.perf_counter() - started,
            trained.path,
        ),
    )
