"""``skybridge stream create|produce|consume|lag|dlq``: look at and feed the configured stream.

The backend is ``[backends] streams`` (default the embedded log ``<data_dir>/streams.db``).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from skybridge.apps.kit.cli import cli_session, console, styled
from skybridge.backends import streams
from skybridge.backends.streams import Message, Record, StartPosition, StreamBackend
from skybridge.backends.streams.base import MAX_PARTITIONS
from skybridge.cli import keeps_bytes
from skybridge.core.errors import ValidationError, shown
from skybridge.runtime.deadletter import DeadLetters

stream_app = typer.Typer(help="Produce, consume and inspect event streams.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-letter topics: list and replay poison records.")
stream_app.add_typer(dlq_app, name="dlq")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
#: Topic names as Kafka allows them (Kinesis and OCI Streaming accept these too).
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def _topic(name: str) -> str:
    if not _TOPIC.fullmatch(name):
        raise typer.BadParameter(
            f"{name!r}: a topic name is 1-249 letters, digits, dots, dashes or underscores"
        )
    return name


def _group(name: str | None) -> str | None:
    if name is not None and (not name.strip() or not name.isprintable()):
        raise typer.BadParameter(f"{name!r}: a consumer group name needs printable characters")
    return name


TopicArg = Annotated[str, typer.Argument(help="Topic name.", callback=_topic)]


@contextmanager
def open_stream(ctx: typer.Context) -> Iterator[StreamBackend]:
    """The stream backend of ``[backends] streams``."""
    settings = cli_session(ctx).settings()
    backend = streams.connect(settings.backends.streams, setting="backends.streams")
    try:
        yield backend
    finally:
        backend.close()


@stream_app.command("create")
def create(
    ctx: typer.Context,
    topic: TopicArg,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            "-p",
            min=1,
            max=MAX_PARTITIONS,
            help=f"Of a new topic (default 1, at most {MAX_PARTITIONS:,}).",
        ),
    ] = None,
) -> None:
    """Create a topic (nothing happens if it exists)."""
    with open_stream(ctx) as backend:
        info = backend.create_topic(topic, partitions or 1)
    cli_session(ctx).out.print(
        styled("Topic [bold]{}[/] has {} partition(s).", info.name, info.partitions)
    )
    if partitions is not None and info.partitions != partitions:
        console(stderr=True).print(
            styled(
                "[yellow]warning:[/] {} already existed; --partitions {} was not applied "
                "(a topic keeps the partitions it was created with)",
                info.name,
                partitions,
            )
        )


def _header(text: str) -> tuple[str, bytes]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValidationError(f"header {text!r} is not name=value")
    try:
        name.encode()  # bytes that are not UTF-8 come as surrogates, which do not encode
    except UnicodeEncodeError:
        raise ValidationError(
            f"header name {shown(_raw(name))} is not UTF-8 text",
            hint="a header's value may be any bytes; its name is text",
        ) from None
    return name, _raw(value)


@stream_app.command("produce")
@keeps_bytes("value", "key", "header")
def produce(
    ctx: typer.Context,
    topic: TopicArg,
    value: Annotated[str | None, typer.Argument(help="The record value.")] = None,
    key: Annotated[str | None, typer.Option("--key", "-k", help="Record key.")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="name=value (repeatable).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Produce one record per line of F.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Append one record (VALUE) or one per line of a file."""
    if (value is None) == (file is None):
        raise ValidationError("give exactly one of VALUE or --file")
    try:
        values = [_raw(value)] if value is not None else _lines(file)
    except OSError as exc:
        raise ValidationError(f"cannot read {file}: {exc.strerror}") from None
    headers = [_header(h) for h in header or []]
    encoded_key = _raw(key) if key is not None else None
    with open_stream(ctx) as backend:
        produced = backend.produce(topic, [Message(v, encoded_key, headers) for v in values])
    if as_json:
        typer.echo(json.dumps([{"partition": p.partition, "offset": p.offset} for p in produced]))
        return
    where = ", ".join(f"{p.partition}:{p.offset}" for p in produced[:5])
    more = " ..." if len(produced) > 5 else ""
    cli_session(ctx).out.print(f"Produced {len(produced)} record(s) to {topic} at {where}{more}")


def _raw(text: str) -> bytes:
    """The bytes given on the command line, as they were (not UTF-8 ones included)."""
    return text.encode("utf-8", "surrogateescape")


def _lines(file: Path | None) -> list[bytes]:
    """One value per non-blank line of ``file``, as bytes (any encoding)."""
    assert file is not None
    return [line.rstrip(b"\r") for line in file.read_bytes().split(b"\n") if line.strip()]


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode(errors="replace")


def _base64(raw: bytes | None) -> str | None:
    """``raw`` in base64 when it is no UTF-8 text (its ``_text`` form lost bytes), else None."""
    if raw is None:
        return None
    try:
        raw.decode()
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode()
    return None


def record_dict(record: Record) -> dict[str, Any]:
    """A record for ``--json``: key, value and headers as text; a key or value that is no
    UTF-8 also in base64 (``key_base64``, ``value_base64``: null otherwise), byte for byte."""
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": _text(record.key),
        "value": _text(record.value),
        "key_base64": _base64(record.key),
        "value_base64": _base64(record.value),
        "headers": {k: _text(v) for k, v in record.headers},
        "timestamp": record.timestamp,
    }


@stream_app.command("consume")
def consume(
    ctx: typer.Context,
    topic: TopicArg,
    group: Annotated[
        str | None,
        typer.Option("--group", "-g", help="Consume (and commit) as this group.", callback=_group),
    ] = None,
    from_beginning: Annotated[bool, typer.Option("--from-beginning")] = False,
    max_records: Annotated[int | None, typer.Option("--max", "-n", min=1)] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Stop after S idle seconds.")
    ] = 2.0,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON Lines for machines: one JSON object per line, one line per record.",
        ),
    ] = False,
) -> None:
    """Print records. Without --group nothing is committed; with it, what was printed is.

    With --json, stdout holds JSON Lines only: one JSON object per record, per line."""
    name = group or f"skybridge-cli-{uuid.uuid4().hex[:8]}"
    start: StartPosition = "earliest" if from_beginning else "latest"
    printed: list[Record] = []
    with open_stream(ctx) as backend, backend.consumer(name, [topic], start=start) as consumer:
        owned = consumer.wait_for_assignment(timeout=30.0)
        if from_beginning:
            starts = backend.start_offsets(topic)
            for tp in owned:
                consumer.seek(tp, starts.get(tp.partition, 0))
        for record in consumer.iterate(idle_timeout=timeout):
            printed.append(record)
            _print_record(ctx, record, as_json)
            if max_records is not None and len(printed) >= max_records:
                break
        if group is not None and printed:
            consumer.commit_records(printed)


def _print_record(ctx: typer.Context, record: Record, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(record_dict(record)))
        return
    key = _text(record.key)
    line = styled("[dim]{}:{}[/]", record.partition, record.offset)
    if key:
        line.append_text(styled(" [bold]{}[/]", key))
    line.append(f" {_text(record.value)}")
    cli_session(ctx).out.print(line)


@stream_app.command("lag")
def lag(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="Consumer group.", callback=_group)],
    topic: TopicArg,
    as_json: JsonFlag = False,
) -> None:
    """Records each partition of TOPIC holds that GROUP has not committed."""
    with open_stream(ctx) as backend:
        lags = backend.lag(group, topic)
    if as_json:
        rows = {str(p): vars(v) | {"partition": p} for p, v in sorted(lags.items())}
        typer.echo(json.dumps({"group": group, "topic": topic, "partitions": list(rows.values())}))
        return
    table = Table(title=f"{group} on {topic}", title_justify="left")
    for column in ("partition", "committed", "end", "lag"):
        table.add_column(column, justify="right")
    for p, v in sorted(lags.items()):
        committed = "—" if v.committed is None else str(v.committed)
        table.add_row(str(p), committed, str(v.end), str(v.lag))
    table.add_row("total", "", "", str(sum(v.lag for v in lags.values())), style="bold")
    cli_session(ctx).out.print(table)


@dlq_app.command("list")
def dlq_list(ctx: typer.Context, topic: TopicArg, as_json: JsonFlag = False) -> None:
    """Dead letters of TOPIC (on TOPIC.dlq), with error and replay status."""
    with open_stream(ctx) as backend:
        dead = DeadLetters(backend, topic)
        if not dead.exists():
            backend.describe(topic)  # an unknown topic is an error; no dead letters is not
        letters = dead.letters()
    if as_json:
        typer.echo(json.dumps([d.as_dict() for d in letters], indent=2))
        return
    if not letters:
        cli_session(ctx).out.print(f"No dead letters for {topic}.")
        return
    table = Table(title=f"dead letters of {topic}", title_justify="left")
    for column in ("id", "source", "error", "replayed"):
        table.add_column(column)
    for d in letters:
        source = f"{d.topic}/{d.partition}@{d.offset}"
        error = f"{d.error_type}: {d.error}"
        table.add_row(d.id, source, error, "yes" if d.replayed else "no")
    cli_session(ctx).out.print(table)


#: A dead letter's id: the partition and offset of the letter on TOPIC.dlq.
_LETTER_ID = re.compile(r"\d+:\d+")


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    topic: TopicArg,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="A dead letter id (repeatable).")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Every letter not yet replayed.")] = (
        False
    ),
    as_json: JsonFlag = False,
) -> None:
    """Republish dead letters to their original topic and mark them replayed."""
    if bool(ids) == replay_all:
        raise ValidationError("give --id (one or more) or --all")
    for given in ids or ():
        if not _LETTER_ID.fullmatch(given):
            raise ValidationError(
                f"{shown(given)} is not a dead letter id",
                hint=f"ids look like 0:12; skybridge stream dlq list {topic} shows them",
            )
    with open_stream(ctx) as backend:
        dead = DeadLetters(backend, topic)
        if not dead.exists():
            backend.describe(topic)  # an unknown topic is an error; no dead letters is not
        done = dead.replay(None if replay_all else ids)
    if as_json:
        typer.echo(json.dumps({"replayed": [d.id for d in done]}))
        return
    cli_session(ctx).out.print(f"Replayed {len(done)} dead letter(s) to {topic}.")
