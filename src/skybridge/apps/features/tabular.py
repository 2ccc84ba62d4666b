"""Entity files for training sets: CSV or Parquet in, CSV, Parquet or JSON out."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skybridge.apps.features.offline import pyarrow_modules
from skybridge.core.errors import ValidationError

#: Most entity rows one file may hold.
MAX_ROWS = 1_000_000


def _cell(text: str) -> Any:
    """CSV text as a number where it is one (epoch times, labels), else the text."""
    try:
        number = float(text)
    except ValueError:
        return text
    return (
        int(number)
        if number.is_integer() and "." not in text and "e" not in text.lower()
        else number
    )


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``.csv`` (header line first) or ``.parquet`` file."""
    if not path.is_file():
        raise ValidationError(f"entity file {path} does not exist")
    if path.suffix == ".parquet":
        _, pq = pyarrow_modules()
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    elif path.suffix in (".csv", ".txt"):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    else:
        raise ValidationError(f"entity file {path} must be .csv or .parquet")
    if not rows:
        raise ValidationError(f"entity file {path} has no rows")
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"entity file {path} has more than {MAX_ROWS} rows")
    return rows


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` as ``.csv``, ``.parquet`` or ``.json`` (by the suffix)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    if path.suffix == ".parquet":
        pa, pq = pyarrow_modules()
        mixed = {c for c in columns if len(_kinds(rows, c)) > 1}
        flat = [{c: _flat(r.get(c), c in mixed) for c in columns} for r in rows]
        pq.write_table(pa.Table.from_pylist(flat), path)
    elif path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows({c: _flat(r.get(c)) for c in columns} for r in rows)
    elif path.suffix == ".json":
        path.write_text(json.dumps(list(rows), indent=1, default=str))
    else:
        raise ValidationError(f"output file {path} must be .csv, .parquet or .json")


def _kinds(rows: Sequence[dict[str, Any]], column: str) -> set[type]:
    """The value types of a column, ints counted as floats (Parquet holds one type each)."""
    found = {type(r.get(column)) for r in rows if r.get(column) is not None}
    return {float if kind is int else kind for kind in found}


def _flat(value: Any, as_text: bool = False) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value) if as_text and value is not None else value
