"""Converting one delivered file (CSV, CSV.gz or Parquet) into canonical Parquet with DuckDB.

One pass reads the file as text, maps its columns (:mod:`.formats`), casts them and writes every
row with ``x_problem``: empty for a whole row, else why it is rejected (an unreadable amount or
time, a missing required column). Rejected rows stay in the file, quarantined: the analytics
read only whole rows, and each rejected one is reported with its file, line and the column at
fault. Rows the CSV reader cannot
split are reported from DuckDB's rejects table with their line. The line of a rejected row is
found by a second, sequential read that only runs when a file has rejected rows.
"""

from __future__ import annotations

import csv
import gzip
import os
import secrets
import zlib
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from skybridge.apps.costs.focus import COLUMNS, MACROS, REQUIRED
from skybridge.apps.costs.formats import Kind, Plan, detect, lit, plan_for, q
from skybridge.core.errors import ConfigError, ValidationError
from skybridge.core.private_files import FILE_MODE

#: What to do about a file that cannot be read to its end.
WHOLE_FILE = "give the export as its provider delivered it, whole"
#: At most this many rejected rows are listed per file (all are counted).
MAX_LISTED = 200
_TEXT = {"VARCHAR", "VARCHAR[]"}


@dataclass(frozen=True)
class RejectedRow:
    """A row kept out of the data, and why."""

    file: str
    line: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclass
class Conversion:
    """What converting one file produced."""

    kind: Kind
    rows: int
    rejected: int
    rejects: list[RejectedRow] = field(default_factory=list)


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the app's macros."""
    con = duckdb.connect(":memory:")
    for macro in MACROS:
        con.execute(macro)
    return con


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def read_header(path: Path, name: str | None = None) -> list[str]:
    """The column names of a CSV(.gz) or Parquet file; errors call it ``name`` (default: the
    file's name)."""
    shown = name or path.name
    if path.suffix == ".parquet":
        try:
            with duckdb.connect(":memory:") as con:
                query = f"SELECT * FROM read_parquet({lit(str(path))}) LIMIT 0"
                return [d[0] for d in con.execute(query).description]
        except duckdb.Error as exc:
            raise ValidationError(
                f"{shown} is not a readable Parquet file ({_first_line(exc)})",
                hint=WHOLE_FILE,
            ) from None
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline()  # alone: a bad byte further on is one rejected row
    except (EOFError, OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ValidationError(
            f"{shown} is not a complete gzip file ({exc})",
            hint=WHOLE_FILE,
        ) from None
    try:
        header = next(csv.reader([first.decode("utf-8-sig")]), None)
    except UnicodeDecodeError:
        raise ValidationError(
            f"{shown} is not UTF-8 text", hint="give a cost export as CSV, CSV.gz or Parquet"
        ) from None
    if not header:
        raise ValidationError(f"{shown} is empty: a cost export starts with a header")
    return header


def _source(path: Path, header: list[str], *, parallel: bool = True) -> str:
    """The rows of ``path`` as text. A CSV's columns are its ``header``, given to the reader
    rather than sniffed: the sniffer fails on a whole file for one bad line (an unterminated
    quote), where the reader rejects that line and goes on."""
    if path.suffix == ".parquet":
        return f"(SELECT COLUMNS(*)::VARCHAR FROM read_parquet({lit(str(path))}))"
    options = "header = true, quote = '\"', escape = '\"', store_rejects = true"
    if len(set(header)) == len(header) and all(header):
        columns = ", ".join(f"{lit(name)}: 'VARCHAR'" for name in header)
        options += f", auto_detect = false, delim = ',', columns = {{{columns}}}"
    else:  # repeated or blank names: the reader's own renaming keeps them apart
        options += ", all_varchar = true"
    if not parallel:
        options += ", parallel = false"
    return f"read_csv({lit(str(path))}, {options})"


def _typed(expr: str, sql_type: str) -> str:
    if sql_type == "TIMESTAMP":
        return f"CAST(TRY_CAST({expr} AS TIMESTAMPTZ) AS TIMESTAMP)"
    return f"TRY_CAST({expr} AS {sql_type})"


def _tag_lists(plan: Plan) -> tuple[str, str]:
    """The tag keys (as written) and values of a row, from the plan's JSON or map; empty lists
    when the row has none (JSON that is no object has no keys)."""
    if "x_TagJson" in plan:
        tags, empty = f"({plan['x_TagJson']})", "[]::VARCHAR[]"
        return (
            f"coalesce(json_keys({tags}), {empty})",
            f"coalesce(json_extract_string({tags}, '$.*'), {empty})",
        )
    tag_map = f"CAST({plan['x_TagMap']} AS MAP(VARCHAR, VARCHAR))"
    return f"map_keys({tag_map})", f"map_values({tag_map})"


def _staging_sql(
    kind: Kind, header: list[str], path: Path, name: str, *, parallel: bool = True
) -> str:
    """Text expressions and their typed values in an inner select (each cast runs once), the
    canonical columns and ``x_problem`` (why a row is rejected; empty when it is whole) outside."""
    plan = plan_for(kind, header)
    inner, outer, problems = [], [], []
    tag_keys, tag_values = _tag_lists(plan)
    for index, (column, sql_type) in enumerate(COLUMNS.items()):
        if column in {"x_SourceKind", "x_SourceFile"}:
            value = lit(kind) if column == "x_SourceKind" else lit(name)
            outer.append(f"{value} AS {q(column)}")
            continue
        if column == "x_TagKeys":
            inner.append(f"list_transform({tag_keys}, lambda k: tag_key_norm(k)) AS v{index}")
        elif column == "x_TagValues":
            inner.append(f"{tag_values} AS v{index}")
        elif sql_type in _TEXT:
            inner.append(f"CAST({plan[column]} AS {sql_type}) AS v{index}")
        else:
            inner += [
                f"({plan[column]}) AS r{index}",
                f"{_typed(plan[column], sql_type)} AS v{index}",
            ]
            problems.append(
                f"CASE WHEN r{index} IS NOT NULL AND v{index} IS NULL "
                f"THEN {lit(column + ': cannot read ')} || left(r{index}, 40) END"
            )
        if column in REQUIRED:
            text = f"v{index}" if sql_type in _TEXT else f"r{index}"
            problems.append(f"CASE WHEN {text} IS NULL THEN {lit(column + ': missing')} END")
        outer.append(f"v{index} AS {q(column)}")
    reason = f"concat_ws('; ', {', '.join(problems)})"
    source = _source(path, header, parallel=parallel)
    inner_sql = f"SELECT {', '.join(inner)} FROM {source}"
    return f"SELECT {', '.join(outer)}, {reason} AS x_problem FROM ({inner_sql})"


def convert_file(con: duckdb.DuckDBPyConnection, path: Path, name: str, target: Path) -> Conversion:
    """Write the whole rows of ``path`` (shown as ``name``) to ``target`` as canonical Parquet.

    Raises:
        ValidationError: the file is empty, is not a known export, or cannot be read to its end
            (a truncated gzip, a damaged Parquet file); nothing is written then.
    """
    header = read_header(path)
    kind = detect(header)
    tmp = temporary_for(target)
    try:
        conversion = _write(con, kind, header, path, name, tmp)
        os.chmod(tmp, FILE_MODE)  # the owner's alone, as every store of skybridge's
        tmp.replace(target)
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:
        _discard(tmp)
        if tmp.name in str(exc):  # writing failed (permissions, a full disk), not the reading
            raise ConfigError(
                f"cannot write the converted file in {target.parent} ({_first_line(exc)})",
                setting="costs.data",
                hint="the costs data folder must be writable, with room for the Parquet files",
            ) from None
        raise ValidationError(
            f"{name} cannot be read to its end ({_first_line(exc)})",
            hint=WHOLE_FILE,
        ) from None
    except BaseException as exc:
        _discard(tmp)
        if _interrupted(exc):
            raise KeyboardInterrupt from None
        raise
    return conversion


def _discard(tmp: Path) -> None:
    """Remove a half-written file; where that fails too (a read-only folder, where even a
    missing file cannot be unlinked) the error that brought us here is the one to tell."""
    with suppress(OSError):
        tmp.unlink(missing_ok=True)


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C: DuckDB stops its query and raises ``Query interrupted``."""
    return isinstance(exc, duckdb.InterruptException) or (
        type(exc) is RuntimeError and str(exc).startswith("Query interrupted")
    )


def temporary_for(target: Path) -> Path:
    """A name of this process's own beside ``target`` to write it under, then rename: two
    processes converting the same file never share one."""
    return target.with_name(f"{target.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _write(
    con: duckdb.DuckDBPyConnection, kind: Kind, header: list[str], path: Path, name: str, tmp: Path
) -> Conversion:
    staging = _staging_sql(kind, header, path, name)
    # Row order within the file means nothing to the analytics (lines are found by _bad_rows'
    # own sequential read); not keeping it saves the writer an ordering step.
    con.execute("SET preserve_insertion_order = false")
    try:
        con.execute(f"COPY ({staging}) TO {lit(str(tmp))} (FORMAT parquet)")
    finally:
        con.execute("RESET preserve_insertion_order")
    rows, bad = _one(
        con,
        "SELECT count(*) FILTER (x_problem = ''), count(*) FILTER (x_problem <> '') "
        f"FROM read_parquet({lit(str(tmp))})",
    )
    rejects = _split_errors(con, name) if path.suffix != ".parquet" else []
    conversion = Conversion(kind, int(rows), int(bad) + len(rejects), rejects)
    if bad:
        unsplit = {r.line for r in rejects if r.line is not None}
        conversion.rejects += _bad_rows(con, kind, header, path, name, unsplit)
        conversion.rejects.sort(key=lambda r: r.line or 0)
    return conversion


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row


def _split_errors(con: duckdb.DuckDBPyConnection, name: str) -> list[RejectedRow]:
    try:
        found = con.execute(
            "SELECT line, error_type, error_message FROM reject_errors ORDER BY line"
        ).fetchall()
    except duckdb.CatalogException:
        return []
    con.execute("DELETE FROM reject_errors")
    by_line: dict[int, str] = {}
    for line, kind, message in found:
        by_line.setdefault(int(line), f"{kind}: {message.splitlines()[0]}")
    return [RejectedRow(name, line, reason) for line, reason in sorted(by_line.items())]


def _bad_rows(
    con: duckdb.DuckDBPyConnection,
    kind: Kind,
    header: list[str],
    path: Path,
    name: str,
    unsplit: set[int],
) -> list[RejectedRow]:
    sql = _staging_sql(kind, header, path, name, parallel=False)
    numbered = f"SELECT row_number() OVER () AS n, x_problem FROM ({sql})"
    found = con.execute(
        f"SELECT n, x_problem FROM ({numbered}) WHERE x_problem <> '' ORDER BY n LIMIT {MAX_LISTED}"
    ).fetchall()
    lines = _physical_lines(path, [int(n) for n, _ in found], unsplit)
    return [RejectedRow(name, lines.get(int(n)), str(problem)) for n, problem in found]


def _physical_lines(path: Path, ordinals: list[int], unsplit: set[int]) -> dict[int, int]:
    """The file line where each data row (1-based ordinal among the rows the CSV reader could
    split: those starting on an ``unsplit`` line are not counted) starts; quoted newlines
    count."""
    if path.suffix == ".parquet" or not ordinals:
        return {}
    wanted, found = set(ordinals), {}
    opener = gzip.open if path.suffix == ".gz" else open
    # Only lines are counted here: a byte that is no UTF-8 (a rejected row) must not stop it.
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        start = reader.line_num + 1
        ordinal = 0
        for _ in reader:
            if start not in unsplit:
                ordinal += 1
                if ordinal in wanted:
                    found[ordinal] = start
                    if len(found) == len(wanted):
                        break
            start = reader.line_num + 1
    return found
