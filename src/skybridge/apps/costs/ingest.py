"""Ingest: delivered exports (local files, or objects under a prefix of ``backends.objects``)
and cost API pulls become canonical Parquet, once.

A file is identified by the SHA-256 of its bytes: a file already in the ledger is skipped, so
re-ingesting a folder or a bucket never double-counts. A cost API pull is stored per source and
UTC day: pulling a day again replaces that day (late cost settles), never adds to it. Local files
are all checked before any is ingested; objects of a bucket are taken one by one, and one that
cannot be ingested is reported and passed over (see :meth:`CostStore.ingest_objects`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from skybridge.apps.costs.analytics import CostData
from skybridge.apps.costs.convert import (
    WHOLE_FILE,
    RejectedRow,
    connect,
    convert_file,
    read_header,
    temporary_for,
)
from skybridge.apps.costs.focus import COLUMNS, norm_key
from skybridge.apps.costs.formats import USAGE_REPORT, detect, lit, oci_usage_report
from skybridge.apps.costs.ledger import IngestedFile, Ledger
from skybridge.backends.billing import CostLine
from skybridge.backends.objects import ObjectStore
from skybridge.core.errors import DamagedState, NotFound, ValidationError
from skybridge.core.observability import get_logger
from skybridge.core.private_files import private_dir

log = get_logger(__name__)

SUFFIXES = (".csv", ".csv.gz", ".parquet")
#: Reads of the ledger and the folder before an ingested file counts as lost (see ``current``).
_SETTLE_TRIES = 3
_API_KIND = {"aws": "aws-ce", "oci": "oci-usage"}
_PROVIDER = {"aws": "AWS", "oci": "Oracle"}


@dataclass
class FileResult:
    """What became of one file (or one day of an API pull).

    ``status`` is ``ingested``, ``unchanged`` (ingested before), ``skipped`` (an object that
    holds no costs, or is gone since it was listed) or ``rejected`` (an object that cannot be
    ingested; nothing of it is); ``reason`` says why for the last two. ``rejected`` counts the
    rows an ingested file kept out of the data.
    """

    source: str
    status: str
    kind: str
    rows: int
    rejected: int
    hash: str
    rejects: list[RejectedRow] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        keys = ("source", "status", "kind", "rows", "rejected", "hash", "reason")
        return {k: getattr(self, k) for k in keys} | {
            "rejects": [r.to_dict() for r in self.rejects]
        }

    @property
    def failed(self) -> bool:
        """Whether the file, or any row of it, was kept out of the data."""
        return self.status == "rejected" or self.rejected > 0


def wanted(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def _check_name(path: Path) -> None:
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ValidationError(f"{path} {what}", hint="give a cost export file or a folder of them")
    if not wanted(path.name):
        raise ValidationError(f"{path.name}: give a .csv, .csv.gz or .parquet export")


def _check_export(path: Path) -> None:
    """Refuse ``path`` unless it is a file whose header is a known export's (names the file)."""
    _check_name(path)
    try:
        detect(read_header(path))
    except ValidationError as exc:
        if str(path.name) not in exc.message:
            exc.message = f"{path}: {exc.message}"
        raise


def _suffix(name: str) -> str:
    return next(s for s in SUFFIXES if name.lower().endswith(s))


class CostStore:
    """Canonical Parquet in ``<folder>/parquet`` and the ledger in ``<folder>/ledger.db``.

    The ledger says which Parquet files hold the data: a file is written first and recorded
    after, and one it replaces is removed after that, so a run killed in between leaves a file
    no report reads (swept later), never a file counted twice or a day counted from two pulls.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parquet_dir = folder / "parquet"
        private_dir(self.parquet_dir, tighten=True)
        self.ledger = Ledger(folder)
        _sweep(self.parquet_dir, {f.parquet for f in self.ledger.files()})

    # -- files -----------------------------------------------------------------------------
    def ingest_file(self, path: Path, source: str | None = None) -> FileResult:
        """Ingest one CSV, CSV.gz or Parquet export (``source`` names it; default its path)."""
        _check_name(path)
        digest = _sha256(path.open("rb"), str(path))
        return self._convert(path, source or str(path), digest)

    def ingest_paths(self, paths: Iterable[Path]) -> Iterator[FileResult]:
        """Ingest files and every export file below folders, in name order.

        Every file is checked first (it exists, is UTF-8 and is a known export): one bad file
        among several stops the command before any is ingested, and the error names it.

        Raises:
            ValidationError: a path is missing or is a folder holding no export; a file is not
                an export.
        """
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                named = sorted(p for p in path.rglob("*") if wanted(p.name))
                broken = [p for p in named if p.is_symlink() and not p.exists()]
                if broken:
                    raise ValidationError(
                        f"{broken[0]} is a link that leads nowhere",
                        hint="remove the link, or put the export it stood for there",
                    )
                found = [p for p in named if p.is_file()]
                if not found:
                    raise ValidationError(
                        f"{path} holds no cost export", hint=f"give {', '.join(SUFFIXES)} files"
                    )
                files += found
            else:
                files.append(path)
        for path in files:
            _check_export(path)
        for path in files:
            yield self.ingest_file(path)

    def ingest_objects(self, store: ObjectStore, prefix: str) -> Iterator[FileResult]:
        """Ingest every export under ``prefix`` of an object store (an OCI report bucket...),
        in key order.

        An object that cannot be ingested (no known export, damaged) does not stop the others:
        its result is ``rejected`` with the reason, naming its key, on every run until it is
        removed. An OCI usage report (no costs) and an object deleted since the listing are
        ``skipped``. An error of the store itself (unreachable, access denied) or of the data
        folder still raises: every object would fail alike.
        """
        for key in sorted(k for k in store.keys(prefix) if wanted(k)):
            with tempfile.TemporaryDirectory(prefix="skybridge-costs-") as tmp:
                result = self._ingest_object(store, key, Path(tmp) / f"export{_suffix(key)}")
            if result.status == "rejected":
                log.warning("costs.object_rejected", key=key, reason=result.reason)
            yield result

    def _ingest_object(self, store: ObjectStore, key: str, local: Path) -> FileResult:
        source = f"objects:{key}"
        try:
            with local.open("wb") as out:
                for chunk in store.iter_chunks(key):
                    out.write(chunk)
        except NotFound:
            return FileResult(
                source, "skipped", "", 0, 0, "", reason=f"{key} was removed after it was listed"
            )
        digest = ""
        try:
            digest = _sha256(local.open("rb"), key)
            header = read_header(local, key)
            if oci_usage_report(header):
                return FileResult(
                    source, "skipped", "", 0, 0, digest, reason=f"{key} is {USAGE_REPORT}"
                )
            detect(header)
            return self._convert(local, source, digest)
        except ValidationError as exc:
            reason = str(exc).replace(str(local), key)
            if key not in reason:
                reason = f"{key}: {reason}"
            return FileResult(source, "rejected", "", 0, 0, digest, reason=reason)

    def _convert(self, path: Path, source: str, digest: str) -> FileResult:
        known = self._intact(self.ledger.find(digest))
        if known is not None:
            rejects = self.ledger.rejects(digest) if known.rejected else []
            return FileResult(
                source, "unchanged", known.kind, known.rows, known.rejected, digest, rejects
            )
        target = self.parquet_dir / f"{digest}.parquet"
        con = connect()
        try:
            done = convert_file(con, path, source, target)
        finally:
            con.close()
        entry = IngestedFile(
            digest, source, done.kind, done.rows, done.rejected, target.name, time.time()
        )
        self.ledger.record(entry, done.rejects)
        return FileResult(
            source, "ingested", done.kind, done.rows, done.rejected, digest, done.rejects
        )

    # -- cost APIs -------------------------------------------------------------------------
    def ingest_lines(self, source: str, provider: str, lines: list[CostLine]) -> list[FileResult]:
        """Store a cost API pull: one Parquet per UTC day, replacing that day's earlier pull."""
        by_day: dict[date, list[CostLine]] = {}
        for line in lines:
            by_day.setdefault(line.day, []).append(line)
        return [
            self._store_day(source, provider, day, rows) for day, rows in sorted(by_day.items())
        ]

    def _store_day(
        self, source: str, provider: str, day: date, lines: list[CostLine]
    ) -> FileResult:
        key = hashlib.sha256(f"{source}|{day.isoformat()}".encode()).hexdigest()
        body = "\n".join(sorted(repr(line.to_dict()) for line in lines))
        digest = hashlib.sha256(body.encode()).hexdigest()
        recorded = self.ledger.find(key)
        target = self.parquet_dir / f"api-{key}-{digest[:16]}.parquet"
        known = self._intact(recorded)
        if known is not None and known.parquet == target.name:
            return FileResult(f"{source}@{day}", "unchanged", known.kind, known.rows, 0, key)
        _write_lines(target, source, provider, lines)
        kind = _API_KIND.get(provider, provider)
        entry = IngestedFile(key, f"{source}@{day}", kind, len(lines), 0, target.name, time.time())
        self.ledger.record(entry, [])  # from here on reports read the new file, not the old
        if recorded is not None and recorded.parquet != target.name:
            (self.parquet_dir / recorded.parquet).unlink(missing_ok=True)
        return FileResult(entry.source, "ingested", kind, len(lines), 0, key)

    def _intact(self, known: IngestedFile | None) -> IngestedFile | None:
        """``known``, or ``None`` when its Parquet is gone or damaged: it is converted again."""
        if known is None or readable_parquet(self.parquet_dir / known.parquet):
            return known
        log.warning("costs.parquet_lost", source=known.source, parquet=known.parquet)
        return None

    def current(self) -> tuple[list[Path], list[IngestedFile]]:
        """The Parquet files the ledger names (what reports read), and the ingested files
        whose Parquet is no longer there (reports would leave their costs out)."""
        for attempt in range(_SETTLE_TRIES):
            # The ledger first: a file it names was written before it was recorded. One
            # replaced by a pull meanwhile is gone from the folder once the ledger names the
            # new one: read both again before calling anything lost.
            recorded = self.ledger.files()
            present = {p.name for p in self.parquet_dir.glob("*.parquet")}
            lost = [f for f in recorded if f.parquet not in present]
            if not lost:
                break
            if attempt < _SETTLE_TRIES - 1:
                time.sleep(0.05)
        files = sorted(self.parquet_dir / f.parquet for f in recorded if f.parquet in present)
        return files, lost

    def data(self, current: tuple[list[Path], list[IngestedFile]] | None = None) -> CostData:
        """The ``costs`` view over what the ledger names (the caller closes it); ``current``:
        what :meth:`current` answered just now, if the caller asked already.

        Raises:
            DamagedState: an ingested file's Parquet is gone (a report would leave it out).
        """
        files, lost = current or self.current()
        if lost:
            names = ", ".join(f.source for f in lost[:3]) + (", ..." if len(lost) > 3 else "")
            raise DamagedState(
                f"{len(lost)} ingested file(s) lost their Parquet in {self.parquet_dir} "
                f"({names}): a report would leave their costs out",
                hint="ingest them again (skybridge costs ingest FILE, or pull the cost API days "
                "again): a file whose Parquet is gone is converted again",
            )
        return CostData(files)

    def reset(self) -> None:
        """Forget everything ingested (the Parquet and the ledger's file list)."""
        shutil.rmtree(self.parquet_dir, ignore_errors=True)
        private_dir(self.parquet_dir, tighten=True)
        self.ledger = Ledger(self.folder)


def readable_parquet(path: Path) -> bool:
    """Whether ``path`` is a Parquet file whose footer DuckDB can read."""
    if not path.is_file():
        return False
    con = duckdb.connect(":memory:")
    try:
        con.execute("SELECT count(*) FROM parquet_metadata(?)", [str(path)]).fetchall()
    except duckdb.Error:
        return False
    finally:
        con.close()
    return True


#: A temporary file older than this was left by a conversion that was killed.
STALE_SECONDS = 3600.0


def _sweep(folder: Path, recorded: set[str]) -> None:
    """Remove what killed runs left behind: conversions' ``.tmp`` files (and DuckDB's), and
    Parquet no ledger entry names (written but not recorded, or replaced but not removed)."""
    now = time.time()
    left = [*folder.glob("*.tmp"), *(p for p in folder.glob("*.parquet") if p.name not in recorded)]
    for path in left:
        try:
            if now - path.stat().st_mtime > STALE_SECONDS:  # not a run in progress
                path.unlink()
        except OSError:
            continue  # another process's, or already gone


#: The longest line a CSV export may have. DuckDB's reader rejects a line over its
#: ``max_line_size`` (2 MB) as a malformed row, but one longer than its read buffer (32 MB)
#: vanished without a trace: such a file is refused whole instead.
MAX_LINE_BYTES = 16 << 20


class _Lines:
    """The longest line of a text fed in chunks, and where it is, for :data:`MAX_LINE_BYTES`."""

    def __init__(self) -> None:
        self.newlines = 0
        self.run = 0  # bytes since the last newline

    def feed(self, chunk: bytes, name: str) -> None:
        first = chunk.find(b"\n")
        if first < 0:
            self.run += len(chunk)
        else:
            self._check(self.run + first, name)
            self.newlines += chunk.count(b"\n")
            self.run = len(chunk) - chunk.rfind(b"\n") - 1
        self._check(self.run, name)

    def _check(self, length: int, name: str) -> None:
        if length > MAX_LINE_BYTES:
            raise ValidationError(
                f"{name}: line {self.newlines + 1} is over {MAX_LINE_BYTES >> 20} MB long; no "
                "cost export has lines this long, so the file was not ingested",
                hint=WHOLE_FILE,
            )


def _sha256(handle: Any, name: str = "the file") -> str:
    """The SHA-256 of a file, checking on the way that no line of its text is too long for
    the CSV reader (:data:`MAX_LINE_BYTES`; a ``.gz`` file's text is checked uncompressed)."""
    hasher = hashlib.sha256()
    lines = _Lines()
    lowered = name.lower()
    gzipped, parquet = lowered.endswith(".gz"), lowered.endswith(".parquet")
    inflate = _Inflate() if gzipped else None
    with handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
            if parquet:
                continue
            if not gzipped:
                lines.feed(chunk, name)
            elif inflate is not None:
                try:
                    for text in inflate.texts(chunk):
                        lines.feed(text, name)
                except zlib.error:
                    inflate = None  # damaged: the conversion names it (WHOLE_FILE)
    return hasher.hexdigest()


class _Inflate:
    """A gzip file's text, chunk by chunk, across every member (a concatenated ``.gz`` is
    one file to a reader, as DuckDB's is), in pieces of at most 16 MB."""

    def __init__(self) -> None:
        self._member = zlib.decompressobj(wbits=31)

    def texts(self, data: bytes) -> Iterator[bytes]:
        while data:
            text = self._member.decompress(data, 1 << 24)
            if text:
                yield text
            if self._member.eof:  # the next member starts in what is left
                data = self._member.unused_data
                self._member = zlib.decompressobj(wbits=31)
            else:
                data = self._member.unconsumed_tail


def _write_lines(target: Path, source: str, provider: str, lines: list[CostLine]) -> None:
    con = connect()
    try:
        names = list(COLUMNS)
        columns = ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items())
        con.execute(f"CREATE TEMP TABLE pull ({columns}, x_problem VARCHAR DEFAULT '')")
        rows = [_canonical(line, source, provider, names) for line in lines]
        if rows:
            marks = ", ".join("?" for _ in names)
            quoted = ", ".join(f'"{c}"' for c in names)
            con.executemany(f"INSERT INTO pull ({quoted}) VALUES ({marks})", rows)
        tmp = temporary_for(target)
        try:
            con.execute(f"COPY pull TO {lit(str(tmp))} (FORMAT parquet)")
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        con.close()


def _canonical(line: CostLine, source: str, provider: str, names: list[str]) -> list[Any]:
    start = f"{line.day.isoformat()} 00:00:00"
    tags = {line.tag_key: line.tag_value} if line.tag_key and line.tag_value else {}
    values: dict[str, Any] = {
        "BilledCost": line.billed_cost,
        "EffectiveCost": line.effective_cost,
        "BillingCurrency": line.currency,
        "ChargeCategory": "Usage",
        "ChargePeriodStart": start,
        "ChargePeriodEnd": f"{line.day.isoformat()} 23:59:59",
        "ProviderName": _PROVIDER.get(provider, provider),
        "ServiceName": line.service,
        "Tags": json.dumps(tags) if tags else None,
        "x_TagKeys": [norm_key(k) for k in tags],
        "x_TagValues": list(tags.values()),
        "x_SourceKind": _API_KIND.get(provider, provider),
        "x_SourceFile": source,
    }
    return [values.get(name) for name in names]
