"""The target database: version-guarded upserts of changes, staging loads and batch merges.

One :class:`SqlTarget` per engine. Every write is one transaction: a batch of changes is
applied whole or not at all, so a consumer that dies before committing its offsets finds
either nothing or everything of the batch applied, and applying it again changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, false, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from skybridge.apps.datasync import oracle
from skybridge.apps.datasync.changes import DELETED, ORIGIN_AT, SYNCED_AT, Change
from skybridge.apps.datasync.config import TableSpec
from skybridge.apps.datasync.postgres_bulk import BULK_ROWS, bulk_upsert
from skybridge.apps.datasync.schema import BATCH, Schema
from skybridge.apps.datasync.statements import merge_statement, upsert_statement
from skybridge.backends.sql import translate_sql_error as translate
from skybridge.core.errors import ConfigError, ValidationError

DIALECTS = ("postgresql", "sqlite", "oracle")


@dataclass(frozen=True)
class Applied:
    """What one write did: rows written now, and changes skipped as not newer."""

    table: str
    received: int
    applied: int

    @property
    def stale(self) -> int:
        return self.received - self.applied


def newest(changes: Iterable[Change], spec: TableSpec) -> list[Change]:
    """The newest change of each key, in first-seen order.

    A version names one state of a row: of two changes with the same key and version the
    first stays, as it does across batches (the guard only lets strictly newer versions in).
    """
    kept: dict[Any, Change] = {}
    names, version = spec.key, spec.version
    single = names[0] if len(names) == 1 else None
    for change in changes:
        row = change.row
        key = row[single] if single is not None else tuple([row[n] for n in names])
        old = kept.get(key)
        if old is None or row[version] > old.row[version]:
            kept[key] = change
    return list(kept.values())


def as_row(change: Change, spec: TableSpec, synced_at: float) -> dict[str, Any]:
    """Every written column of ``change`` (columns a delete leaves out are null)."""
    row = {c: change.row.get(c) for c in spec.columns}
    row[DELETED] = change.op == "delete"
    row[ORIGIN_AT] = change.at
    row[SYNCED_AT] = synced_at
    return row


class SqlTarget:
    """Applies changes to the synced tables of ``engine`` (PostgreSQL, SQLite or Oracle)."""

    def __init__(self, engine: Engine, tables: Mapping[str, TableSpec]) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in DIALECTS:
            raise ConfigError(
                f"datasync cannot write to {self.dialect}",
                setting="datasync.target",
                hint="use a postgresql://, sqlite:// or oracle:// URL",
            )
        self.schema = Schema(tables)

    def spec(self, table: str) -> TableSpec:
        if table not in self.schema.specs:
            raise ValidationError(f"unknown table {table!r}")
        return self.schema.specs[table]

    def create(self) -> list[str]:
        """Create missing target and staging tables; their names."""
        try:
            return self.schema.create(self.engine)
        except SQLAlchemyError as exc:
            raise translate(exc, "creating the synced tables") from None

    def apply(self, changes: Sequence[Change]) -> list[Applied]:
        """Upsert ``changes`` (of any tables) in one transaction, each only over an older
        version of its row; what was applied per table, in order of first appearance."""
        by_table: dict[str, list[Change]] = {}
        for change in changes:
            by_table.setdefault(change.table, []).append(change)
        synced_at = time.time()
        results: list[Applied] = []
        try:
            with self.engine.begin() as conn:
                for table, group in by_table.items():
                    spec = self.spec(table)
                    applied = self._upsert(conn, table, spec, newest(group, spec), synced_at)
                    results.append(Applied(table, len(group), min(applied, len(group))))
        except SQLAlchemyError as exc:
            raise translate(exc, f"upserting into {', '.join(by_table)}") from None
        return results

    def _upsert(
        self, conn: Connection, table: str, spec: TableSpec, changes: list[Change], synced_at: float
    ) -> int:
        """Upsert ``changes`` (one per key) into ``table``; rows written."""
        if self.dialect == "postgresql" and len(changes) >= BULK_ROWS:
            return bulk_upsert(conn, self.schema.targets[table], spec, changes, synced_at)
        rows = [as_row(c, spec, synced_at) for c in changes]
        if self.dialect == "oracle":
            # Flags are NUMBER(1) before Oracle 23ai: bind them as numbers, not booleans.
            binds = [{k: int(v) if isinstance(v, bool) else v for k, v in r.items()} for r in rows]
            return conn.execute(text(oracle.upsert_sql(table, spec)), binds).rowcount or 0
        target = self.schema.targets[table]
        # RETURNING counts exactly the rows written (a guarded row returns nothing); drivers'
        # executemany rowcounts are not reliable (psycopg answers -1).
        stmt = upsert_statement(target, spec, self.dialect).returning(target.c[spec.key[0]])
        return len(conn.execute(stmt, rows).all())

    def load_staging(self, table: str, batch: str, changes: Sequence[Change]) -> int:
        """Replace batch ``batch``'s rows in ``<table>_staging`` with ``changes``."""
        spec = self.spec(table)
        staging = self.schema.staging[table]
        rows = [{BATCH: batch, **as_row(c, spec, 0.0)} for c in changes]
        for row in rows:
            row.pop(SYNCED_AT)
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(staging).where(staging.c[BATCH] == batch))
                if rows:
                    conn.execute(insert(staging), rows)
        except SQLAlchemyError as exc:
            raise translate(exc, f"loading {staging.name}") from None
        return len(rows)

    def merge_batch(self, table: str, batch: str) -> int:
        """Merge batch ``batch`` of the staging table into ``table``; rows written."""
        spec, staging = self.spec(table), self.schema.staging[table]
        synced_at = time.time()
        try:
            with self.engine.begin() as conn:
                if self.dialect == "oracle":
                    sql = text(oracle.merge_staging_sql(table, spec))
                    params = {"batch_id": batch, "synced_at": synced_at}
                    written = conn.execute(sql, params).rowcount or 0
                else:
                    target = self.schema.targets[table]
                    stmt = merge_statement(target, staging, spec, self.dialect, batch, synced_at)
                    written = len(conn.execute(stmt.returning(target.c[spec.key[0]])).all())
                conn.execute(delete(staging).where(staging.c[BATCH] == batch))
                return written
        except SQLAlchemyError as exc:
            raise translate(exc, f"merging batch {batch} into {table}") from None

    def copy_into_staging(self, table: str, batch: str, uris: list[str], credential: str) -> None:
        """Oracle: replace batch ``batch``'s staging rows by the CSV parts at ``uris``
        (``DBMS_CLOUD.COPY_DATA`` reads them from Object Storage)."""
        staging = self.schema.staging[table]
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(staging).where(staging.c[BATCH] == batch))
            with self.engine.begin() as conn:
                conn.execute(text(oracle.copy_data_sql(table, credential, uris)))
        except SQLAlchemyError as exc:
            raise translate(exc, f"COPY_DATA into {staging.name}") from None

    def staged(self, table: str, batch: str) -> int:
        """Rows of batch ``batch`` in the staging table."""
        staging = self.schema.staging[table]
        query = select(func.count()).select_from(staging).where(staging.c[BATCH] == batch)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def rows(self, table: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every row of ``table`` by key (tests, ``datasync rows``, the demo)."""
        target, spec = self.schema.targets[table], self.spec(table)
        query = select(target).order_by(*[target.c[k] for k in spec.key])
        if not include_deleted:
            query = query.where(target.c[DELETED] == false())
        try:
            with self.engine.connect() as conn:
                return [dict(r) for r in conn.execute(query).mappings()]
        except SQLAlchemyError as exc:
            raise translate(exc, f"reading {table}") from None
