"""The compacted files of the offline log: the rows of many files read as one table, one row
kept per ``(source, offset)``, and the names and SHA-256 digests of the files a compacted file was
merged from (in its Parquet metadata, for a compaction interrupted before it deleted them: a file
of the same name with another digest was written again after the merge)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

from skybridge.apps.features.offline import (
    COLUMNS,
    INPUTS_KEY,
    log_schema,
    merged_from,
    pyarrow_modules,
)
from skybridge.backends.objects import ObjectStore
from skybridge.core.errors import Conflict, NotFound

#: Parquet metadata key of a compacted file: its inputs' SHA-256 digests, as its names (JSON).
DIGESTS_KEY = b"skybridge.compacted_digests"


def read_files(
    objects: ObjectStore, keys: Sequence[str], done: Callable[[int], None]
) -> tuple[Any, list[int], list[int], list[str]]:
    """The rows of the log files ``keys`` as one Arrow table, in order, with each file's rows,
    bytes and SHA-256 digest; ``done(1)`` after each file.

    Raises:
        Conflict: a file was deleted meanwhile (by another compaction).
    """
    pa, pq = pyarrow_modules()
    schema = log_schema()
    tables, rows, sizes, digests = [], [], [], []
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
        digests.append(digest(data))
        done(1)
    return pa.concat_tables(tables), rows, sizes, digests


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def encode(table: Any, inputs: list[str], digests: list[str]) -> bytes:
    """``table`` as a compacted file naming its ``inputs`` and their ``digests`` in its
    metadata."""
    _, pq = pyarrow_modules()
    out = io.BytesIO()
    named = table.replace_schema_metadata(
        {INPUTS_KEY: json.dumps(inputs).encode(), DIGESTS_KEY: json.dumps(digests).encode()}
    )
    pq.write_table(named, out, compression="zstd")
    return out.getvalue()


def compacted_inputs(objects: ObjectStore, key: str) -> list[tuple[str, str | None]]:
    """The names of the files the compacted file ``key`` was merged from, each with its digest
    as merged (``None`` in a file written before digests were recorded)."""
    _, pq = pyarrow_modules()
    metadata = pq.read_schema(io.BytesIO(objects.get(key))).metadata or {}
    names = merged_from(metadata)
    digests = [str(d) for d in json.loads(metadata.get(DIGESTS_KEY, b"[]"))]
    if len(digests) != len(names):
        return [(name, None) for name in names]
    return list(zip(names, digests, strict=True))
