"""Large upserts on PostgreSQL: ``COPY`` into a temporary table, then one guarded
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE older``.

``COPY`` moves rows in one stream instead of one statement per row, and the single merge lets
PostgreSQL pick the newest version of each key and skip stale ones in one pass. The temporary
table disappears with the transaction, so nothing is left behind by a crash.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Table, column, table, text

from skybridge.apps.datasync.changes import SYNCED_AT
from skybridge.apps.datasync.config import TableSpec
from skybridge.apps.datasync.statements import merge_statement, written_columns

#: Upserts of at least this many rows go through COPY (below, one executemany is cheaper).
BULK_ROWS = 2000


def bulk_upsert(
    conn: Connection, target: Table, spec: TableSpec, rows: list[dict[str, Any]]
) -> int:
    """Upsert ``rows`` (one per key, every written column) into ``target``; rows written."""
    quote = conn.dialect.identifier_preparer.quote
    name = f"sb_load_{uuid.uuid4().hex[:12]}"
    conn.execute(text(f"CREATE TEMPORARY TABLE {name} (LIKE {quote(target.name)}) ON COMMIT DROP"))
    columns = written_columns(spec)
    names = ", ".join(quote(c) for c in columns)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    finally:
        cursor.close()
    source = table(name, *[column(c) for c in columns])
    stmt = merge_statement(target, source, spec, "postgresql", None, rows[0][SYNCED_AT])
    return len(conn.execute(stmt.returning(target.c[spec.key[0]])).all())
