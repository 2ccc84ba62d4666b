"""The compacted files of the offline log: the rows of many files read as one table, one row
kept per ``(source, offset)``, and the names of the files a compacted file was merged from (in
its Parquet metadata, for a compaction interrupted before it deleted them)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from typing import Any

from skybridge.apps.features.offline import COLUMNS, log_schema, pyarrow_modules
from skybridge.backends.objects import ObjectStore
from skybridge.core.errors import Conflict, NotFound

#: Parquet metadata key of a compacted file: its inputs' names, in its day folder (JSON).
INPUTS_KEY = b"skybridge.compacted_from"


def read_files(
    objects: ObjectStore, keys: Sequence[str], done: Callable[[int], None]
) -> tuple[Any, list[int], list[int]]:
    """The rows of the log files ``keys`` as one Arrow table, in order, with each file's rows
    and bytes; ``done(1)`` after each file.

    Raises:
        Conflict: a file was deleted meanwhile (by another compaction).
    """
    pa, pq = pyarrow_modules()
    schema = log_schema()
    tables, rows, sizes = [], [], []
    for key in keys:
        try:
            data = objects.get(key)
        except NotFound:
            raise Conflict(
                f"{key} was deleted while it was being compacted",
                hint="another compaction ran at the same time; run it again",
            ) from None
        table = pq.read_table(io.BytesIO(data)).select(list(COLUMNS))
        tables.append(table.replace_schema_metadata(None).cast(schema))
        rows.append(table.num_rows)
        sizes.append(len(data))
        done(1)
    return pa.concat_tables(tables), rows, sizes


def unique_rows(table: Any) -> Any:
    """``table`` with the first row of each ``(source, offset)`` only, by entity and time."""
    pa, _ = pyarrow_modules()
    index = pa.array(range(table.num_rows), type=pa.int64())
    firsts = (
        table.select(["source", "offset"])
        .append_column("row", index)
        .group_by(["source", "offset"], use_threads=False)
        .aggregate([("row", "min")])
    )
    keep = sorted(firsts.column("row_min").to_pylist())
    return table.take(pa.array(keep, type=pa.int64())).sort_by(
        [("entity", "ascending"), ("event_time", "ascending")]
    )


def encode(table: Any, inputs: list[str]) -> bytes:
    """``table`` as a compacted file naming its ``inputs`` in its metadata."""
    _, pq = pyarrow_modules()
    out = io.BytesIO()
    named = table.replace_schema_metadata({INPUTS_KEY: json.dumps(inputs).encode()})
    pq.write_table(named, out, compression="zstd")
    return out.getvalue()


def compacted_from(objects: ObjectStore, key: str) -> list[str]:
    """The names of the files the compacted file ``key`` was merged from."""
    _, pq = pyarrow_modules()
    metadata = pq.read_schema(io.BytesIO(objects.get(key))).metadata or {}
    names = json.loads(metadata.get(INPUTS_KEY, b"[]"))
    return [str(name) for name in names]
