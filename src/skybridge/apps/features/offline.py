"""The offline log: every event a view folds, with its event time and inputs, appended to
Parquet files on an ``objects`` backend (file, S3, OCI Object Storage).

Each pipeline batch writes one file per view::

    <prefix>/<view>/date=<ingest day>/part-<topic>-<partition>-<first offset>-<hash>.parquet

with the columns ``entity``, ``event_time`` (epoch seconds), ``source`` (``topic/partition``),
``offset`` (decimal text: Kinesis sequence numbers exceed 64 bits), ``ingested_at`` and
``inputs`` (the view's input fields of the event, JSON). A batch delivered again has the
same file name (its content decides the hash) and, with counters (``kv``), finds that file and
does not write it again (it counts it if no delivery before did, see :mod:`.logstats`); a
redelivery that batches records differently, or that comes after compaction merged the file
away, writes them again, and :func:`read_log` keeps one row per ``(source, offset)`` (the next
compaction drops the copy). Compaction (:mod:`.compaction`) merges a day's parts into
``compact-*.parquet`` files in the same folder, which readers read like any other file of the
log. Training sets are computed from this log with the online definitions (:mod:`.training`),
so training and serving cannot drift apart.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skybridge.apps.features.entity import ParsedEvent
from skybridge.apps.features.logstats import Part, count_file
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.objects import ObjectStore
from skybridge.core.errors import MissingDependency, NotFound, TransientError, ValidationError
from skybridge.runtime.outputs import Effect, Upsert

COLUMNS = ("entity", "event_time", "source", "offset", "ingested_at", "inputs")


@dataclass(frozen=True, slots=True)
class LogRow:
    """One logged event of one view."""

    entity: str
    event_time: float
    source: str
    offset: int
    ingested_at: float
    inputs: dict[str, Any]

    def parsed(self) -> ParsedEvent:
        return ParsedEvent(self.entity, self.event_time, self.offset, self.inputs)


def pyarrow_modules() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ModuleNotFoundError as exc:
        raise MissingDependency("pyarrow", "features", feature="the features offline log") from exc
    return pyarrow, pyarrow.parquet


def log_row(event: ParsedEvent, source: str, now: float) -> dict[str, Any]:
    """The row an :class:`~skybridge.runtime.outputs.Upsert` to the offline sink carries."""
    return {
        "entity": event.entity,
        "event_time": event.time,
        "source": source,
        "offset": str(event.order),
        "ingested_at": now,
        "inputs": json.dumps(event.inputs, separators=(",", ":"), sort_keys=True, default=str),
    }


def log_schema() -> Any:
    """The Arrow schema of every file of the log (parts and compacted files)."""
    pa, _ = pyarrow_modules()
    return pa.schema(
        [
            ("entity", pa.string()),
            ("event_time", pa.float64()),
            ("source", pa.string()),
            ("offset", pa.string()),
            ("ingested_at", pa.float64()),
            ("inputs", pa.string()),
        ]
    )


def to_parquet(rows: Sequence[dict[str, Any]]) -> bytes:
    pa, pq = pyarrow_modules()
    table = pa.Table.from_pylist(list(rows), schema=log_schema())
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


class OfflineLogSink:
    """The pipeline sink that appends ``Upsert(view, row)`` outputs to the offline log, and
    counts each new file in ``kv`` when given (see :mod:`.logstats`)."""

    def __init__(
        self,
        objects: ObjectStore,
        prefix: str = "features/log",
        kv: KeyValueStore | None = None,
    ) -> None:
        self.objects = objects
        self.prefix = prefix.strip("/")
        self.kv = kv

    def write(self, effects: Sequence[Effect]) -> int:
        by_view: dict[str, list[dict[str, Any]]] = {}
        for effect in effects:
            output = effect.output
            if not isinstance(output, Upsert):
                raise ValidationError(f"the offline log takes Upsert outputs, got {output!r}")
            by_view.setdefault(output.table, []).append(output.row)
        for view, rows in by_view.items():
            key = self.part_key(view, rows)
            if self.kv is None:
                self.objects.put(key, to_parquet(rows), content_type=PARQUET)
                continue
            self._write_counted(self.kv, view, key, rows)
        return len(effects)

    def _write_counted(
        self, kv: KeyValueStore, view: str, key: str, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Write the part ``key`` unless it is there, and count it once: a batch delivered
        again finds its file and counts it only if no delivery before did."""
        part = Part(rows[0]["source"], int(rows[0]["offset"]))
        try:
            size = self.objects.head(key).size
        except NotFound:
            data = to_parquet(rows)
            self.objects.put(key, data, content_type=PARQUET)
            count_file(kv, self.objects, self.prefix, view, len(rows), len(data), part)
            return
        count_file(kv, self.objects, self.prefix, view, len(rows), size, part, again=True)

    def part_key(self, view: str, rows: Sequence[dict[str, Any]]) -> str:
        first = rows[0]
        digest = hashlib.sha256()
        for row in rows:
            digest.update(f"{row['source']}@{row['offset']}\n".encode())
        day = datetime.fromtimestamp(first["ingested_at"], tz=UTC).strftime("%Y-%m-%d")
        source = first["source"].replace("/", "-")
        name = f"part-{source}-{first['offset']}-{digest.hexdigest()[:12]}.parquet"
        return f"{self.prefix}/{view}/date={day}/{name}"


PARQUET = "application/vnd.apache.parquet"


def log_files(objects: ObjectStore, view: str, prefix: str = "features/log") -> list[str]:
    return sorted(k for k in objects.keys(f"{prefix.strip('/')}/{view}/") if k.endswith(".parquet"))


#: Listings of a view's log :func:`read_log` takes at most (each one after a compaction step
#: moved rows while the log was read).
READ_ROUNDS = 20
#: Name of the files compaction writes (``compact-<UTC time>-<random>.parquet``).
COMPACTED = "compact-"
#: Parquet metadata key of a compacted file: its inputs' names, in its day folder (JSON).
INPUTS_KEY = b"skybridge.compacted_from"


def is_compacted(key: str) -> bool:
    return key.rpartition("/")[2].startswith(COMPACTED)


def read_log(objects: ObjectStore, view: str, prefix: str = "features/log") -> list[LogRow]:
    """Every logged event of ``view``, one per ``(source, offset)``, by event time.

    A compaction may merge files and delete them while they are listed and read; it deletes a
    file only after writing the compacted file holding its rows, which names its inputs. So
    the log is listed again after it is read, and the compacted files that listing shows and
    that were not read are read: the reading ends once none of them was merged from a file
    not read (a file deleted before it was read, or one a listing in pages missed). Parts the
    pipeline writes while the log is read are read when the first listing shows them, and
    left to the next read after that. A row read twice is kept once.

    Raises:
        TransientError: compactions still moved unread rows after :data:`READ_ROUNDS`
            listings.
    """
    pyarrow_modules()
    seen: dict[tuple[str, str], LogRow] = {}
    read: set[str] = set()
    for round_ in range(READ_ROUNDS):
        fresh = [k for k in log_files(objects, view, prefix) if k not in read]
        if round_:  # only compacted files can hold rows the reads before missed
            fresh = [k for k in fresh if is_compacted(k)]
        missed = False
        for key in fresh:
            try:
                inputs = _read_rows(objects.get(key), seen)
            except NotFound:  # merged away since it was listed
                missed = True
                continue
            read.add(key)
            folder = key.rpartition("/")[0]
            missed = missed or (round_ > 0 and any(f"{folder}/{n}" not in read for n in inputs))
        if round_ and not missed:
            return sorted(seen.values(), key=lambda r: (r.entity, r.event_time, r.offset))
    raise TransientError(
        f"the offline log of view {view!r} kept changing while it was read",
        hint="read it again (a compaction was merging its files)",
    )


def _read_rows(data: bytes, seen: dict[tuple[str, str], LogRow]) -> list[str]:
    """Add the rows of the log file ``data`` to ``seen``, but for ``(source, offset)`` seen;
    the names of the files it was merged from (a compacted file), in its folder."""
    _, pq = pyarrow_modules()
    table = pq.read_table(io.BytesIO(data))
    for row in table.to_pylist():
        ident = (row["source"], row["offset"])
        if ident not in seen:
            seen[ident] = LogRow(
                row["entity"],
                float(row["event_time"]),
                row["source"],
                int(row["offset"]),
                float(row["ingested_at"]),
                json.loads(row["inputs"]),
            )
    return merged_from(table.schema.metadata)


def merged_from(metadata: dict[bytes, bytes] | None) -> list[str]:
    """The names of the files a compacted file was merged from, by its Parquet metadata
    (none for a part file)."""
    return [str(name) for name in json.loads((metadata or {}).get(INPUTS_KEY, b"[]"))]


def iter_entities(rows: Sequence[LogRow]) -> Iterator[tuple[str, list[LogRow]]]:
    """Rows grouped by entity (``rows`` sorted by entity)."""
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i].entity != rows[start].entity:
            yield rows[start].entity, list(rows[start:i])
            start = i


def now() -> float:
    return time.time()
