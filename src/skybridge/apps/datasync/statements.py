"""Version-guarded upserts and staging merges for PostgreSQL and SQLite, built by SQLAlchemy.

Both dialects get ``INSERT ... ON CONFLICT (key) DO UPDATE SET ... WHERE target.version <
excluded.version``: a row is only ever replaced by a strictly newer version, so a redelivered
change is a no-op and an older one arriving late never overwrites a newer one. Oracle gets the
same meaning as a ``MERGE`` (:mod:`.oracle`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, Table, TableClause, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from skybridge.apps.datasync.changes import DELETED, ORIGIN_AT, SYNCED_AT
from skybridge.apps.datasync.config import TableSpec
from skybridge.apps.datasync.schema import BATCH
from skybridge.core.errors import ConfigError

#: Dialects whose upserts SQLAlchemy builds; Oracle's MERGE is built by :mod:`.oracle`.
NATIVE = {"postgresql": postgresql, "sqlite": sqlite}
#: The columns datasync writes besides the declared ones.
SYNC_COLUMNS = (DELETED, ORIGIN_AT, SYNCED_AT)


def written_columns(spec: TableSpec) -> list[str]:
    """Every column an upsert writes: declared, tombstone, origin and sync times."""
    return [*spec.columns, *SYNC_COLUMNS]


def _insert(target: Table, dialect: str) -> Any:
    if dialect not in NATIVE:
        raise ConfigError(f"no native upsert for the {dialect} dialect")
    return NATIVE[dialect].insert(target)


def _guarded(stmt: Any, target: Table, spec: TableSpec) -> Insert:
    excluded = stmt.excluded
    updates = {c: excluded[c] for c in [*spec.values, *SYNC_COLUMNS]}
    guard = target.c[spec.version] < excluded[spec.version]
    result: Insert = stmt.on_conflict_do_update(index_elements=spec.key, set_=updates, where=guard)
    return result


def upsert_statement(target: Table, spec: TableSpec, dialect: str) -> Insert:
    """``INSERT ... ON CONFLICT DO UPDATE ... WHERE older``, executed with a list of rows."""
    return _guarded(_insert(target, dialect), target, spec)


def newest_per_key(
    source: TableClause, spec: TableSpec, where: ColumnElement[bool] | None
) -> Select[Any]:
    """The newest version of each key among ``source``'s rows (``where`` filters them)."""
    columns = [source.c[c] for c in [*spec.columns, DELETED, ORIGIN_AT]]
    rank = func.row_number().over(
        partition_by=[source.c[k] for k in spec.key], order_by=source.c[spec.version].desc()
    )
    inner = select(*columns, rank.label("sb_rank"))
    if where is not None:
        inner = inner.where(where)
    ranked = inner.subquery("ranked")
    return select(*[ranked.c[c.name] for c in columns]).where(ranked.c.sb_rank == 1)


def merge_statement(
    target: Table,
    source: TableClause,
    spec: TableSpec,
    dialect: str,
    batch: str | None,
    synced_at: float,
    *,
    unique: bool = False,
) -> Insert:
    """Merge ``source`` (a staging table, one batch of it) into ``target``, newest version of
    each key only, never over a newer row: ``INSERT ... SELECT ... ON CONFLICT ... WHERE``.

    ``unique``: ``source`` holds one row per key already (no ranking needed).
    """
    where = source.c[BATCH] == batch if batch is not None else None
    if unique:
        kept = select(*[source.c[c] for c in [*spec.columns, DELETED, ORIGIN_AT]])
        newest = (kept.where(where) if where is not None else kept).subquery("newest")
    else:
        newest = newest_per_key(source, spec, where).subquery("newest")
    rows = select(*newest.c, literal(synced_at).label(SYNCED_AT))
    # SQLite needs a WHERE in INSERT ... SELECT ... ON CONFLICT (else ON reads as a join).
    rows = rows.where(literal(True)) if dialect == "sqlite" else rows
    stmt = _insert(target, dialect).from_select(written_columns(spec), rows)
    return _guarded(stmt, target, spec)
