"""Large upserts on PostgreSQL: ``COPY`` into a temporary table, then one guarded
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE older``.

``COPY`` moves rows in one stream instead of one statement per row, and the single merge lets
PostgreSQL pick the newest version of each key and skip stale ones in one pass. The temporary
table disappears with the transaction, so nothing is left behind by a crash.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, Table, column, func, literal_column, select, table, text

from skybridge.apps.datasync.changes import DELETED, ORIGIN_AT, Change
from skybridge.apps.datasync.config import TableSpec
from skybridge.apps.datasync.statements import merge_statement, written_columns

#: Upserts of at least this many rows go through COPY (below, one executemany is cheaper).
BULK_ROWS = 2000


def bulk_upsert(
    conn: Connection, target: Table, spec: TableSpec, changes: list[Change], synced_at: float
) -> int:
    """Upsert ``changes`` (one per key) into ``target``; rows written."""
    quote = conn.dialect.identifier_preparer.quote
    name = f"sb_load_{uuid.uuid4().hex[:12]}"
    conn.execute(text(f"CREATE TEMPORARY TABLE {name} (LIKE {quote(target.name)}) ON COMMIT DROP"))
    columns = list(spec.columns)
    names = ", ".join(quote(c) for c in [*columns, DELETED, ORIGIN_AT])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
            for change in changes:
                row = change.row
                copy.write_row([*[row.get(c) for c in columns], change.op == "delete", change.at])
    finally:
        cursor.close()
    source = table(name, *[column(c) for c in written_columns(spec)])
    merge = merge_statement(target, source, spec, "postgresql", None, synced_at, unique=True)
    # Count in the server: RETURNING every written key would ship them all back.
    written = merge.returning(literal_column("1")).cte("written")
    return int(conn.execute(select(func.count()).select_from(written)).scalar_one())
