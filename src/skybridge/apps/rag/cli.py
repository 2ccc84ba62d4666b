"""``skybridge rag ingest|query|ask|eval|status|list``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from skybridge.apps.kit.cli import (
    EXIT_FAILED,
    Json,
    app_context,
    cli_session,
    counted,
    emit_json,
    progress_bar,
    result_table,
    styled,
)
from skybridge.apps.rag.answers import ask, query
from skybridge.apps.rag.config import MODES, Mode
from skybridge.apps.rag.datasets import load_query_set
from skybridge.apps.rag.evaluation import evaluate
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.service import open_rag
from skybridge.apps.rag.status import document_rows, status
from skybridge.core.errors import ValidationError

rag_app = typer.Typer(
    help="Index documents and answer questions from them, with citations.", no_args_is_help=True
)

K = Annotated[int | None, typer.Option("--k", "-k", help="Chunks to retrieve (default rag.top_k).")]
ModeOpt = Annotated[
    Mode | None, typer.Option("--mode", help="hybrid, dense or bm25 (default rag.mode).")
]
FilterOpt = Annotated[
    str | None,
    typer.Option(
        "--filter", help='Metadata filter as JSON, e.g. \'{"team": "ops", "year": {"gte": 2024}}\'.'
    ),
]


def _progress() -> Progress:
    return progress_bar(BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)


def _filter(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        raise ValidationError(
            "--filter is not JSON", hint='e.g. --filter \'{"team": "ops"}\''
        ) from None
    if not isinstance(found, dict):
        raise ValidationError("--filter must be a JSON object of field -> condition")
    return found


def _meta(pairs: list[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError(f"--meta {pair!r} is not KEY=VALUE")
        found[key] = value
    return found


@rag_app.command("ingest")
def ingest_command(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            help="A file or folder, file://, s3://bucket/prefix or oci://bucket@ns/prefix."
        ),
    ],
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="KEY=VALUE added to every chunk (repeat).")
    ] = None,
    reindex: Annotated[
        bool,
        typer.Option(
            "--reindex", help="Drop the index first (after changing the embedding model)."
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Index the documents of SOURCE: only changed ones are embedded; deleted ones are removed."""
    extra = _meta(meta or [])
    with open_rag(app_context(ctx, "rag")) as rag, _progress() as bar:
        task = bar.add_task("ingesting", total=None)

        def advance(done: int, total: int, key: str) -> None:
            bar.update(task, completed=done, total=total, description=f"ingesting {key[-40:]}")

        def wait(key: str, holder: str) -> None:
            bar.update(task, description=f"waiting for {key[-40:]}, being indexed by {holder}")

        report = ingest(
            rag, source, metadata=extra, reindex=reindex, progress=advance, waiting=wait
        )
    if as_json:
        emit_json(report.to_dict())
        return
    out = cli_session(ctx).out
    out.print(
        styled(
            "[bold]{}[/]: {} added, {} updated, {} unchanged, {} removed; {} chunks written "
            "({} vectors from cache) in {:.1f} s",
            report.source,
            len(report.added),
            len(report.updated),
            report.unchanged,
            len(report.removed),
            report.chunks,
            report.cached_vectors,
            report.seconds,
        )
    )
    for skipped in report.skipped:
        out.print(styled("[yellow]skipped[/] {}: {}", skipped["document"], skipped["reason"]))
    if report.ignored:
        shown_names = ", ".join(report.ignored[:10]) + (", ..." if len(report.ignored) > 10 else "")
        out.print(
            styled(
                "[dim]ignored {} (not .txt, .md, .html or .pdf): {}[/]",
                counted(len(report.ignored), "file"),
                shown_names,
            )
        )


@rag_app.command("query")
def query_command(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to look for.")],
    k: K = None,
    mode: ModeOpt = None,
    filter_json: FilterOpt = None,
    as_json: Json = False,
) -> None:
    """The chunks that best match TEXT, with their scores."""
    with open_rag(app_context(ctx, "rag")) as rag:
        found = query(rag, text, k=k, mode=mode, filters=_filter(filter_json))
    if as_json:
        emit_json({"mode": found.mode, "chunks": [h.to_dict() for h in found.hits]})
        return
    table = result_table(f"Chunks ({found.mode})", "#", "score", "document", "section", "text")
    for n, hit in enumerate(found.hits, 1):
        table.add_row(
            str(n),
            f"{hit.score:.4f}",
            hit.document,
            str(hit.metadata.get("section", "")),
            hit.text[:160].replace("\n", " "),
        )
    cli_session(ctx).out.print(table if found.hits else "No matching chunks.")


@rag_app.command("ask")
def ask_command(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question.")],
    k: K = None,
    mode: ModeOpt = None,
    filter_json: FilterOpt = None,
    as_json: Json = False,
) -> None:
    """Answer QUESTION from the indexed documents, citing the chunks used."""
    with open_rag(app_context(ctx, "rag")) as rag:
        result = ask(rag, question, k=k, mode=mode, filters=_filter(filter_json))
    if as_json:
        emit_json(result.to_dict())
        return
    out = cli_session(ctx).out
    out.print(result.answer.text)
    if not result.answer.grounded:
        out.print(
            styled("[yellow]The model cited no passage; these are the passages it was shown.[/]")
        )
    for c in result.answer.citations:
        out.print(f"  [{c.n}] {c.document} ({c.chunk}, score {c.score:.3f}) {c.source}")


@rag_app.command("eval")
def eval_command(
    ctx: typer.Context,
    dataset: Annotated[
        Path,
        typer.Option(
            "--dataset",
            help="Folder in BEIR layout (queries.jsonl, qrels/, corpus.jsonl optional).",
        ),
    ],
    mode: Annotated[
        Mode | None,
        typer.Option(
            "--mode", help="hybrid, dense or bm25 (default: all three, one after another)."
        ),
    ] = None,
    set_baseline: Annotated[
        bool, typer.Option("--set-baseline", help="Store these scores as the baseline.")
    ] = False,
    as_json: Json = False,
) -> None:
    """nDCG@10, Recall@10/@100 and MRR@10 per mode; exit 1 if below the baseline by the margin."""
    query_set = load_query_set(dataset)
    modes = (mode,) if mode else MODES
    with open_rag(app_context(ctx, "rag")) as rag, _progress() as bar:
        task = bar.add_task("evaluating", total=None)

        def advance(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=step)

        report = evaluate(rag, query_set, modes=modes, set_baseline=set_baseline, progress=advance)
    if as_json:
        emit_json(report.to_dict())
    else:
        table = result_table(
            f"{report.dataset}: {report.queries} queries",
            "mode",
            "nDCG@10",
            "Recall@10",
            "Recall@100",
            "MRR@10",
            "baseline nDCG@10",
        )
        before = (report.baseline or {}).get("modes", {})
        for name, s in report.modes.items():
            base = before.get(name, {}).get("ndcg@10")
            table.add_row(
                name,
                f"{s['ndcg@10']:.4f}",
                f"{s['recall@10']:.4f}",
                f"{s['recall@100']:.4f}",
                f"{s['mrr@10']:.4f}",
                "—" if base is None else f"{base:.4f}",
            )
        out = cli_session(ctx).out
        out.print(table)
        if report.baseline is None:
            out.print("Stored as the baseline.")
        for r in report.regressions:
            out.print(
                styled(
                    "[red]regression[/] {}: nDCG@10 {} is below the baseline {} by more than {}",
                    r["mode"],
                    r["ndcg@10"],
                    r["baseline"],
                    r["margin"],
                )
            )
    if report.regressions:
        raise typer.Exit(EXIT_FAILED)


@rag_app.command("status")
def status_command(ctx: typer.Context, as_json: Json = False) -> None:
    """The index: collection, embedding model, documents, baseline, rolling score."""
    with open_rag(app_context(ctx, "rag")) as rag:
        found = status(rag)
    if as_json:
        emit_json(found)
        return
    table = result_table("RAG index", "setting", "value")
    for key, value in found.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    cli_session(ctx).out.print(table)


@rag_app.command("list")
def list_command(ctx: typer.Context, as_json: Json = False) -> None:
    """The indexed documents."""
    with open_rag(app_context(ctx, "rag")) as rag:
        rows = document_rows(rag)
    if as_json:
        emit_json(rows)
        return
    table = result_table("Documents", "document", "title", "chunks", "source")
    for row in rows:
        table.add_row(row["document"], row["title"], str(row["chunks"]), row["source"])
    cli_session(ctx).out.print(
        table if rows else "Nothing indexed yet: skybridge rag ingest SOURCE"
    )
