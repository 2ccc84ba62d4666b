"""Batch files: the CSV parts a batch moves from the AWS side to the OCI side.

A part is RFC 4180 CSV (CRLF line ends, so a text field holding a CR or LF is quoted) with a
header row (the table's columns, then ``sb_batch``, ``sb_deleted`` and ``sb_origin_at``, which
is the staging table's layout, so Oracle's ``DBMS_CLOUD.COPY_DATA`` loads it as it is) and at
most ``PART_ROWS`` rows. Timestamps are ISO 8601, decimals exact,
an empty field is NULL (as Oracle reads it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from skybridge.apps.datasync.changes import DELETED, ORIGIN_AT, Change, coerce_row
from skybridge.apps.datasync.config import TableSpec
from skybridge.apps.datasync.schema import BATCH
from skybridge.core.errors import ValidationError

PART_ROWS = 50_000


def part_columns(spec: TableSpec) -> list[str]:
    return [*spec.columns, BATCH, DELETED, ORIGIN_AT]


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def encode_parts(
    changes: Iterable[Change], spec: TableSpec, batch: str, part_rows: int = PART_ROWS
) -> Iterator[bytes]:
    """CSV parts of ``changes`` (at least one part, maybe with no rows)."""
    columns = part_columns(spec)
    buffer, rows, parts = io.StringIO(newline=""), 0, 0
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for change in changes:
        values = [change.row.get(c) for c in spec.columns]
        writer.writerow([*map(_field, values), batch, _field(change.op == "delete"), change.at])
        rows += 1
        if rows == part_rows:
            yield buffer.getvalue().encode()
            buffer, rows, parts = io.StringIO(newline=""), 0, parts + 1
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(columns)
    if rows or not parts:
        yield buffer.getvalue().encode()


def decode_part(data: bytes, spec: TableSpec, table: str, where: str) -> list[Change]:
    """The changes in a part written by :func:`encode_parts` (``where`` names it in errors)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader, None)
    if header != part_columns(spec):
        raise ValidationError(f"{where}: the header does not match table {table!r}")
    changes = []
    for line, fields in enumerate(reader, start=2):
        record = dict(zip(header, fields, strict=True))
        deleted, at = record.pop(DELETED) == "1", float(record.pop(ORIGIN_AT))
        record.pop(BATCH)
        row = {k: (v if v != "" else None) for k, v in record.items()}
        try:
            typed = coerce_row(row, spec, partial=deleted)
        except ValidationError as exc:
            raise ValidationError(f"{where} line {line}: {exc.message}") from None
        changes.append(Change(table, "delete" if deleted else "upsert", typed, at))
    return changes


def read_source_csv(
    data: bytes, spec: TableSpec, table: str, where: str, at: float
) -> list[Change]:
    """Rows of a CSV file the AWS side exported (a header of column names, then rows)."""
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError(f"{where}: not a UTF-8 CSV file ({exc})") from None
    changes = []
    for line, row in enumerate(rows, start=2):
        if None in row:
            raise ValidationError(f"{where} line {line}: more fields than the header names")
        values = {k: (v if v != "" else None) for k, v in row.items()}
        try:
            changes.append(Change(table, "upsert", coerce_row(values, spec), at))
        except ValidationError as exc:
            raise ValidationError(f"{where} line {line}: {exc.message}", hint=exc.hint) from None
    return changes
