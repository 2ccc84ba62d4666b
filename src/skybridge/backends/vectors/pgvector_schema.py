"""The pgvector store's tables, versioned as ``skybridge_schema`` component ``pgvector:<prefix>``.

* ``<prefix>__collections``: a row per collection: shape, properties, ``revision``, ``count``,
  ``generation`` (new text each time the collection is made), ``feed_from`` (the oldest
  revision the change feed answers for; NULL: none) and ``kept_deleted`` (how many rows of
  ``__deleted`` it has).
* ``<prefix>_<name>``: the records, each with the ``revision`` that last wrote it (indexed).
* ``<prefix>__deleted``: each deleted id of each collection with the revision that deleted it,
  for recent revisions (:mod:`skybridge.backends.vectors.retention`).

Version 1 added ``generation``, ``feed_from``, the records' ``revision`` and the deleted ids.
Tables of version 0 get them on upgrade: every collection a generation, and each collection
table, in one transaction holding its registry row and the table, its rows at revision 0 and
``feed_from`` set to the collection's revision then (what was deleted before is unknown, so
the feed answers only from there). Writers of this version lock the registry row before they
touch the table.

A process of an older skybridge still writing the collections after the upgrade is refused,
so it cannot write past the feed: its upserts name no revision (the column has no default),
its new collections no generation (nor has that column, once filled), and its deletes meet a
statement trigger on every records table (``<prefix>__feed_guard``) that refuses a delete
unless the transaction says it records the deleted ids (``skybridge.vectors_feed = on``, set
locally by :data:`RECORDING_DELETES`), naming the fix: upgrade that process.

Version 2 added ``kept_deleted``: the upgrade adds the column and counts each collection's
deleted ids in one transaction, whose lock on the registry holds writers off until it commits
(a writer locks its registry row before it deletes). A process of version 1 still deleting
after that leaves its deleted ids out of the count, so its collections prune later than they
would (the next prune counts them again).

Version 3 counts each collection's records again. ``count`` came (before versions) as a column
added with ``DEFAULT 0`` and was only ever moved by each write's delta, so a collection made
before it reads too few records, 0 when never written since: each collection is counted, in a
transaction holding its registry row (as a writer does), so writes before and after agree with
it. Tables of version 0 are counted by the version 1 step, as they get their ``revision``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Connection, create_engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from skybridge.backends.sql_schema import versioned
from skybridge.core.errors import TerminalError, TransientError

SCHEMA_VERSION = 3
#: A new generation: 32 hex digits, as the embedded store's.
NEW_GENERATION = "replace(gen_random_uuid()::text, '-', '')"
#: Run in a transaction before it deletes records (and records their ids in ``__deleted``).
RECORDING_DELETES = "SELECT set_config('skybridge.vectors_feed', 'on', true)"
_GUARD_BODY = """BEGIN
  IF coalesce(current_setting('skybridge.vectors_feed', true), '') <> 'on' THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = 'records of skybridge vector collection table ' || TG_TABLE_NAME
        || ' are deleted only by a skybridge that records them for the change feed',
      HINT = 'upgrade skybridge in the process that deleted them';
  END IF;
  RETURN NULL;
END"""


class Tables:
    """The names of one prefix's tables."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.registry = sql.Identifier(f"{prefix}__collections")
        self.deleted = sql.Identifier(f"{prefix}__deleted")

    def records(self, name: str) -> sql.Identifier:
        return sql.Identifier(f"{self.prefix}_{name}")

    @property
    def guard(self) -> sql.Identifier:
        """The trigger function refusing deletes that would go past the change feed."""
        return sql.Identifier(f"{self.prefix}__feed_guard")


def _guard_trigger(tables: Tables, table: sql.Identifier) -> list[sql.Composed]:
    name = sql.Identifier("feed_guard")
    return [
        sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(name, table),
        sql.SQL(
            "CREATE TRIGGER {} BEFORE DELETE ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}()"
        ).format(name, table, tables.guard),
    ]


def create_records_table(
    tables: Tables, name: str, dimension: int, opclass: str | None
) -> list[sql.Composed]:
    """Statements making collection ``name``'s table (an HNSW index when ``opclass`` is set)."""
    table = tables.records(name)
    statements: list[sql.Composed] = [
        sql.SQL("DROP TABLE IF EXISTS {}").format(table),
        sql.SQL(
            "CREATE TABLE {} (id text PRIMARY KEY, embedding vector({}) NOT NULL, "
            "metadata jsonb NOT NULL, revision bigint NOT NULL)"
        ).format(table, sql.Literal(dimension)),
        sql.SQL("CREATE INDEX ON {} (revision)").format(table),
        sql.SQL("CREATE INDEX ON {} USING gin (metadata jsonb_path_ops)").format(table),
    ]
    if opclass is not None:
        statements.append(
            sql.SQL("CREATE INDEX ON {} USING hnsw (embedding {})").format(table, sql.SQL(opclass))
        )
    return statements + _guard_trigger(tables, table)


def prepare(
    conninfo: str, tables: Tables, render: Callable[[sql.Composable], str], *, masked: str
) -> None:
    """Create or upgrade the tables of ``tables.prefix`` in the database at ``conninfo``
    (``masked`` names it in errors; ``render`` turns a composed statement into text).

    Raises:
        ConfigError: they were made by a newer skybridge.
        TransientError: the database cannot be reached.
    """
    engine = create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(conninfo, connect_timeout=10),
        poolclass=NullPool,
    )
    where = f"the pgvector database {masked}"

    def create(found: int) -> None:
        with engine.begin() as conn:
            _run(conn, render, _base_tables(tables, found))
        if found < 3:
            with engine.connect() as conn:
                names = [r[0] for r in _run(conn, render, [_names(tables)])]
            for name in names:  # a transaction per collection: writers wait for one at a time
                with engine.begin() as conn:
                    if found < 1:
                        _upgrade_records(conn, render, tables, name)
                    elif _lock_collection(conn, render, tables, name):
                        _run(conn, render, [_recount(tables, name)])
        if found < 2:
            with engine.begin() as conn:
                _run(conn, render, _count_deleted(tables))

    try:
        versioned(engine, f"pgvector:{tables.prefix}", SCHEMA_VERSION, create, where=where)
    except OperationalError as exc:
        raise TransientError(f"{where}: {exc.orig or exc}") from None
    except DBAPIError as exc:
        raise TerminalError(f"{where}: {exc.orig or exc}") from None
    finally:
        engine.dispose()


def _run(conn: Connection, render: Callable[[sql.Composable], str], statements: Any) -> Any:
    result = None
    for statement in statements:
        result = conn.exec_driver_sql(render(statement))
    return result


def _names(tables: Tables) -> sql.Composable:
    return sql.SQL("SELECT name FROM {}").format(tables.registry)


def _base_tables(tables: Tables, found: int) -> list[sql.Composable]:
    registry, deleted = tables.registry, tables.deleted
    statements: list[sql.Composable] = [
        sql.SQL("CREATE EXTENSION IF NOT EXISTS vector"),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, dimension int NOT NULL, "
            "metric text NOT NULL, properties jsonb NOT NULL, revision bigint NOT NULL, "
            "count bigint NOT NULL DEFAULT 0, generation text NOT NULL DEFAULT {}, "
            "feed_from bigint, kept_deleted bigint NOT NULL DEFAULT 0)"
        ).format(registry, sql.SQL(NEW_GENERATION)),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (collection text NOT NULL, id text NOT NULL, "
            "revision bigint NOT NULL, PRIMARY KEY (collection, id))"
        ).format(deleted),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (collection, revision)").format(
            sql.Identifier(f"{tables.prefix}__deleted_revision"), deleted
        ),
    ]
    if found < 1:  # made or upgraded: once (each open runs the statements above)
        # a volatile default gives each existing row a value of its own
        statements += [
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS count bigint NOT NULL DEFAULT 0"
            ).format(registry),
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS generation text NOT NULL DEFAULT {}"
            ).format(registry, sql.SQL(NEW_GENERATION)),
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS feed_from bigint").format(registry),
            # filled: from now on a collection made without one (an older skybridge) is refused
            sql.SQL("ALTER TABLE {} ALTER COLUMN generation DROP DEFAULT").format(registry),
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}"
            ).format(tables.guard, sql.Literal(_GUARD_BODY)),
        ]
    return statements


def _count_deleted(tables: Tables) -> list[sql.Composable]:
    """Version 2: each collection's ``kept_deleted``, counted (again, when run twice)."""
    registry, deleted = tables.registry, tables.deleted
    return [
        sql.SQL(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS kept_deleted bigint NOT NULL DEFAULT 0"
        ).format(registry),
        # held until commit: writes in flight (each locks a registry row first) end before
        # the count, and new ones wait for it
        sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(registry),
        sql.SQL(
            "UPDATE {} SET kept_deleted = (SELECT count(*) FROM {} WHERE collection = {}.name)"
        ).format(registry, deleted, registry),
    ]


def _recount(tables: Tables, name: str) -> sql.Composable:
    """Version 3: collection ``name``'s ``count`` set to its table's rows (the same when run
    twice)."""
    return sql.SQL("UPDATE {} SET count = (SELECT count(*) FROM {}) WHERE name = {}").format(
        tables.registry, tables.records(name), sql.Literal(name)
    )


def _lock_collection(
    conn: Connection, render: Callable[[sql.Composable], str], tables: Tables, name: str
) -> bool:
    """Lock collection ``name``'s registry row until the transaction ends; whether it and its
    table exist (a collection dropped since it was listed has neither)."""
    registry = tables.registry
    locked = _run(
        conn,
        render,
        [
            sql.SQL("SELECT 1 FROM {} WHERE name = {} FOR UPDATE").format(
                registry, sql.Literal(name)
            )
        ],
    ).first()
    relation = f"{tables.prefix}_{name}"
    exists = _run(conn, render, [sql.SQL("SELECT to_regclass({})").format(sql.Literal(relation))])
    return locked is not None and exists.scalar() is not None


def _upgrade_records(
    conn: Connection, render: Callable[[sql.Composable], str], tables: Tables, name: str
) -> None:
    """Give collection ``name``'s table its revision column and the collection its
    ``feed_from`` and ``count`` (inside one transaction; nothing when done already)."""
    registry, table = tables.registry, tables.records(name)
    relation = f"{tables.prefix}_{name}"
    if not _lock_collection(conn, render, tables, name):
        return
    _run(conn, render, [sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table)])
    has_column = _run(
        conn,
        render,
        [
            sql.SQL(
                "SELECT 1 FROM pg_attribute WHERE attrelid = {}::regclass "
                "AND attname = 'revision' AND NOT attisdropped"
            ).format(sql.Literal(relation))
        ],
    ).first()
    statements: list[sql.Composable] = []
    if has_column is None:
        statements += [
            sql.SQL("ALTER TABLE {} ADD COLUMN revision bigint NOT NULL DEFAULT 0").format(table),
            # writers must say which revision wrote a row: one that does not is refused
            sql.SQL("ALTER TABLE {} ALTER COLUMN revision DROP DEFAULT").format(table),
            sql.SQL("CREATE INDEX ON {} (revision)").format(table),
        ]
    statements += _guard_trigger(tables, table)
    statements.append(
        sql.SQL("UPDATE {} SET feed_from = revision WHERE name = {} AND feed_from IS NULL").format(
            registry, sql.Literal(name)
        )
    )
    # the column came with DEFAULT 0 and was never filled in
    statements.append(_recount(tables, name))
    _run(conn, render, statements)
