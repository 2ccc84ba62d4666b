"""``pgvector://user:pw@host:5432/db`` (or ``postgresql://``): PostgreSQL with pgvector >= 0.8.

One table per collection (``<prefix>_<name>``: ``id text``, ``embedding vector(d)``,
``metadata jsonb``, ``revision bigint``) with an HNSW index for its metric and a GIN index on
the metadata; a ``<prefix>__collections`` table holds each collection's shape, properties,
revision and generation (:mod:`skybridge.backends.vectors.pgvector_schema`).

**Change feed.** A write locks its collection's registry row first, takes the next revision,
stamps the rows it writes (and the ids it deletes, in ``<prefix>__deleted``) with it and
commits holding the lock, so writes of a collection commit in revision order: a snapshot that
sees revision N sees every row of revisions up to N and none after. :meth:`changes` reads in
one such snapshot (``REPEATABLE READ``), taken after it locks the collection's table so that
the collection cannot be dropped and made again under it.

Deleted ids are kept for recent revisions only (:mod:`skybridge.backends.vectors.retention`):
the registry counts each collection's (``kept_deleted``), and a delete that takes the count
over ``max(count, keep_deleted)`` prunes the oldest revisions' ids down to half that and moves
``feed_from`` up to the newest revision pruned, in its transaction and so still holding the
registry row lock: a snapshot sees the prune with the delete that made it, or neither, and
:meth:`changes` answers ``None`` for a revision older than the ``feed_from`` it sees.

Filtered queries use iterative index scans (``hnsw.iterative_scan = relaxed_order``, pgvector
0.8), so the index keeps scanning until ``k`` rows pass the filter, and results are re-sorted
exactly. When a filter is so rare that even that stops short (``hnsw.max_scan_tuples``), the
query runs again without the index, so ``k`` matching rows always come back.

URL options: ``ef_search`` (40, pgvector's default), ``max_scan_tuples`` (20000),
``keep_deleted`` (10000: the fewest deleted ids a collection keeps) and ``prefix``
(``vectors``: tables ``vectors_<name>``).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Self

import numpy as np
import psycopg
from psycopg import sql

from skybridge.backends.vectors import retention
from skybridge.backends.vectors.base import (
    Changes,
    CollectionInfo,
    Match,
    Metric,
    Vector,
    VectorRecord,
    VectorStore,
)
from skybridge.backends.vectors.filters import Filter
from skybridge.backends.vectors.pgvector_schema import (
    RECORDING_DELETES,
    Tables,
    create_records_table,
    prepare,
)
from skybridge.backends.vectors.pgvector_sql import where
from skybridge.core.errors import (
    ConfigError,
    Conflict,
    NotFound,
    TerminalError,
    TransientError,
)
from skybridge.core.urls import BackendURL, mask_url

_OPS = {
    "cosine": ("<=>", "vector_cosine_ops"),
    "dot": ("<#>", "vector_ip_ops"),
    "l2": ("<->", "vector_l2_ops"),
}
_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,13}$")
#: pgvector indexes ``vector`` columns of at most this many dimensions.
MAX_INDEXED_DIMENSION = 2000
_OPTIONS = ("ef_search", "prefix", "max_scan_tuples", "keep_deleted")


def _text(vector: Vector) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def _score(metric: str, distance: float) -> float:
    return 1.0 - distance if metric == "cosine" else -distance


class PgVectorStore(VectorStore):
    """Collections as pgvector tables: HNSW, iterative filtered scans, jsonb metadata."""

    url_credentials = True

    capabilities: ClassVar[frozenset[str]] = frozenset({"filters", "persistent", "ann", "changes"})
    scheme: ClassVar[str] = "pgvector"

    def __init__(
        self,
        conninfo: str,
        *,
        ef_search: int = 40,
        prefix: str = "vectors",
        max_scan_tuples: int = 20_000,
        keep_deleted: int = retention.KEEP_DELETED,
    ) -> None:
        if not _PREFIX.match(prefix):
            raise ConfigError(
                f"pgvector prefix {prefix!r} must be lowercase letters/digits/_ (at most 14)"
            )
        if not 1 <= ef_search <= 1000:
            raise ConfigError(f"pgvector ef_search must be 1-1000, got {ef_search}")
        if keep_deleted < 1:
            raise ConfigError(f"pgvector keep_deleted must be >= 1, got {keep_deleted}")
        self.keep_deleted = keep_deleted
        self.ef_search = ef_search
        self.prefix = prefix
        self.max_scan_tuples = max_scan_tuples
        self.tables = Tables(prefix)
        self._conninfo = conninfo
        self._masked = mask_url(conninfo)
        self._lock = threading.RLock()
        self.conn = self._connect()
        try:
            prepare(
                conninfo,
                self.tables,
                lambda statement: statement.as_string(self.conn),
                masked=self._masked,
            )
        except BaseException:
            self.conn.close()
            raise

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        settings: dict[str, Any] = {}
        for name in _OPTIONS:
            value = options.pop(name, url.params.get(name))
            if value is not None:
                settings[name] = value if name == "prefix" else int(value)
        if options:
            raise ConfigError(f"unknown pgvector options: {', '.join(sorted(options))}")
        base, _, query = url.raw.partition("?")
        kept = "&".join(p for p in query.split("&") if p and p.split("=")[0] not in _OPTIONS)
        conninfo = "postgresql://" + base.split("://", 1)[1] + (f"?{kept}" if kept else "")
        return cls(conninfo, **settings)

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise TransientError(f"cannot reach PostgreSQL at {self._masked}: {exc}") from None

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction, on a new connection if the server dropped the last one.

        The call that meets a dropped connection fails with :class:`TransientError` (a write's
        outcome is then unknown, so it is not sent again); the next call connects anew.
        """
        with self._lock:
            if self.conn.broken:
                self.conn = self._connect()
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    yield cur
            except psycopg.errors.UniqueViolation as exc:
                raise Conflict(f"pgvector: {exc.diag.message_primary}") from None
            except psycopg.OperationalError as exc:
                raise TransientError(f"PostgreSQL at {self._masked}: {exc}") from None
            except psycopg.Error as exc:
                raise TerminalError(f"PostgreSQL at {self._masked}: {exc}") from None

    def ping(self) -> None:
        with self._tx() as cur:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cur.fetchone()
        version = tuple(int(x) for x in str(row[0] if row else "0").split(".")[:2])
        if version < (0, 8):
            raise ConfigError(
                f"pgvector {row[0] if row else 'none'} is too old: filtered queries need "
                "iterative index scans",
                hint="install pgvector 0.8.3 or later",
            )

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # -- collections --------------------------------------------------------------------------

    def _create(self, info: CollectionInfo) -> None:
        _operator, opclass = _OPS[info.metric]
        indexed = opclass if info.dimension <= MAX_INDEXED_DIMENSION else None
        with self._tx() as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (name, dimension, metric, properties, revision, generation, "
                    "feed_from) VALUES (%s, %s, %s, %s::jsonb, 0, %s, 0)"
                ).format(self.tables.registry),
                (
                    info.name,
                    info.dimension,
                    info.metric,
                    json.dumps(info.properties),
                    uuid.uuid4().hex,
                ),
            )
            for statement in create_records_table(self.tables, info.name, info.dimension, indexed):
                cur.execute(statement)
            self._forget_deleted(cur, info.name)

    def _forget_deleted(self, cur: psycopg.Cursor[Any], name: str) -> None:
        cur.execute(
            sql.SQL("DELETE FROM {} WHERE collection = %s").format(self.tables.deleted), (name,)
        )

    def _describe(self, name: str) -> CollectionInfo | None:
        with self._tx() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT dimension, metric, properties, revision, count, generation FROM {} "
                    "WHERE name = %s"
                ).format(self.tables.registry),
                (name,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        metric: Metric = row[1]
        return CollectionInfo(name, row[0], metric, dict(row[2]), row[4], row[3], row[5])

    def _names(self) -> list[str]:
        with self._tx() as cur:
            cur.execute(sql.SQL("SELECT name FROM {} ORDER BY name").format(self.tables.registry))
            return [r[0] for r in cur.fetchall()]

    def _drop(self, name: str) -> bool:
        with self._tx() as cur:
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE name = %s").format(self.tables.registry), (name,)
            )
            gone = cur.rowcount > 0
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.tables.records(name)))
            self._forget_deleted(cur, name)
        return gone

    def _set_properties(self, name: str, properties: dict[str, str]) -> None:
        with self._tx() as cur:
            cur.execute(
                sql.SQL(
                    "UPDATE {} SET properties = %s::jsonb, revision = revision + 1 WHERE name = %s"
                ).format(self.tables.registry),
                (json.dumps(properties), name),
            )

    def _next_revision(self, cur: psycopg.Cursor[Any], name: str) -> int:
        """Lock the collection's registry row (until the transaction ends) and return the
        revision this write gets; before the write touches the table, so that writes commit in
        revision order (see the module's notes)."""
        cur.execute(
            sql.SQL("SELECT revision FROM {} WHERE name = %s FOR UPDATE").format(
                self.tables.registry
            ),
            (name,),
        )
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"vector collection {name!r} does not exist")
        return int(row[0]) + 1

    def _stamp(
        self, cur: psycopg.Cursor[Any], name: str, revision: int, added: int, buried: int = 0
    ) -> tuple[int, int]:
        """Record the write: the revision, ``added`` records more and ``buried`` more deleted
        ids kept; the collection's deleted ids kept and records then."""
        cur.execute(
            sql.SQL(
                "UPDATE {} SET revision = %s, count = count + %s, "
                "kept_deleted = kept_deleted + %s WHERE name = %s RETURNING kept_deleted, count"
            ).format(self.tables.registry),
            (revision, added, buried, name),
        )
        row = cur.fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def _prune(self, cur: psycopg.Cursor[Any], name: str, keep: int) -> None:
        """Forget the deleted ids of the oldest revisions, leaving at most ``keep``, and move
        ``feed_from`` up to the newest revision forgotten (in a write, holding the registry
        row lock :meth:`_next_revision` took)."""
        deleted = self.tables.deleted
        cur.execute(
            sql.SQL(
                "SELECT revision FROM {} WHERE collection = %s "
                "ORDER BY revision DESC LIMIT 1 OFFSET %s"
            ).format(deleted),
            (name, keep),
        )
        row = cur.fetchone()
        if row is not None:
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE collection = %s AND revision <= %s").format(deleted),
                (name, row[0]),
            )
            cur.execute(
                sql.SQL(
                    "UPDATE {} SET feed_from = GREATEST(feed_from, %s) "
                    "WHERE name = %s AND feed_from IS NOT NULL"
                ).format(self.tables.registry),
                (row[0], name),
            )
        # counted again (at most ``keep`` rows): a count that went wrong is put right here
        cur.execute(
            sql.SQL(
                "UPDATE {} SET kept_deleted = (SELECT count(*) FROM {} WHERE collection = %s) "
                "WHERE name = %s"
            ).format(self.tables.registry, deleted),
            (name, name),
        )

    # -- records ------------------------------------------------------------------------------

    def _upsert(self, name: str, records: list[VectorRecord]) -> None:
        statement = sql.SQL(
            "INSERT INTO {} (id, embedding, metadata, revision) "
            "VALUES (%s, %s::vector, %s::jsonb, %s) "
            "ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding, "
            "metadata = excluded.metadata, revision = excluded.revision"
        ).format(self.tables.records(name))
        with self._tx() as cur:
            revision = self._next_revision(cur, name)
            cur.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE id = ANY(%s)").format(
                    self.tables.records(name)
                ),
                ([r.id for r in records],),
            )
            known = cur.fetchone()
            rows = [
                (r.id, _text(np.asarray(r.vector, np.float32)), json.dumps(r.metadata), revision)
                for r in records
            ]
            cur.executemany(statement, rows)
            self._stamp(cur, name, revision, len(rows) - (known[0] if known else 0))

    def _delete(self, name: str, ids: list[str]) -> int:
        with self._tx() as cur:
            revision = self._next_revision(cur, name)
            cur.execute(RECORDING_DELETES)
            # an id deleted before keeps one row, of its latest deletion (xmax 0: inserted)
            cur.execute(
                sql.SQL(
                    "WITH gone AS (DELETE FROM {} WHERE id = ANY(%s) RETURNING id), "
                    "kept AS (INSERT INTO {} (collection, id, revision) SELECT %s, id, %s "
                    "FROM gone ON CONFLICT (collection, id) DO UPDATE "
                    "SET revision = excluded.revision RETURNING xmax = 0 AS new) "
                    "SELECT count(*), count(*) FILTER (WHERE new) FROM kept"
                ).format(self.tables.records(name), self.tables.deleted),
                (ids, name, revision),
            )
            counted = cur.fetchone()
            gone, new = (int(counted[0]), int(counted[1])) if counted else (0, 0)
            kept, count = self._stamp(cur, name, revision, -gone, new)
            keep = retention.to_keep(kept, count, self.keep_deleted)
            if keep is not None:
                self._prune(cur, name, keep)
        return gone

    def _changes(self, name: str, since: int, generation: str) -> Changes | None:
        with self._snapshot(name) as cur:
            cur.execute(
                sql.SQL("SELECT revision, generation, feed_from FROM {} WHERE name = %s").format(
                    self.tables.registry
                ),
                (name,),
            )
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"vector collection {name!r} does not exist")
            revision, found, feed_from = row
            if found != generation or feed_from is None or not feed_from <= since <= revision:
                return None
            cur.execute(
                sql.SQL("SELECT id, metadata FROM {} WHERE revision > %s").format(
                    self.tables.records(name)
                ),
                (since,),
            )
            upserted = [VectorRecord(rid, None, dict(meta)) for rid, meta in sorted(cur.fetchall())]
            cur.execute(
                sql.SQL("SELECT id FROM {} WHERE collection = %s AND revision > %s").format(
                    self.tables.deleted
                ),
                (name, since),
            )
            written = {r.id for r in upserted}
            deleted = sorted({rid for (rid,) in cur.fetchall()} - written)
        return Changes(int(revision), upserted, deleted)

    @contextmanager
    def _snapshot(self, name: str) -> Iterator[psycopg.Cursor[Any]]:
        """A read-only transaction whose one snapshot is taken after it holds a share lock on
        ``name``'s table (which a drop waits for)."""
        try:
            with self._tx() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute(
                    sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(self.tables.records(name))
                )
                yield cur
        except TerminalError:
            if self._describe(name) is None:
                raise NotFound(f"vector collection {name!r} does not exist") from None
            raise

    def _get(self, name: str, ids: list[str]) -> list[VectorRecord]:
        with self._tx() as cur:
            cur.execute(
                sql.SQL("SELECT id, embedding::text, metadata FROM {} WHERE id = ANY(%s)").format(
                    self.tables.records(name)
                ),
                (ids,),
            )
            return [_record(row) for row in cur.fetchall()]

    def _scan(
        self, name: str, flt: Filter, after: str | None, limit: int, vectors: bool
    ) -> list[VectorRecord]:
        condition, params = where(flt)
        column = sql.SQL("embedding::text" if vectors else "NULL")
        with self._tx() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT id, {}, metadata FROM {} WHERE id > %s AND {} ORDER BY id LIMIT %s"
                ).format(column, self.tables.records(name), condition),
                [after or "", *params, limit],
            )
            return [_record(row) for row in cur.fetchall()]

    def _count(self, name: str, flt: Filter) -> int:
        condition, params = where(flt)
        with self._tx() as cur:
            cur.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
                    self.tables.records(name), condition
                ),
                params,
            )
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def _query(self, name: str, vector: Vector, k: int, flt: Filter) -> list[Match]:
        metric = self.collection(name).metric
        found = self._nearest(name, metric, vector, k, flt, use_index=True)
        if len(found) < k and flt and self._count(name, flt) > len(found):
            found = self._nearest(name, metric, vector, k, flt, use_index=False)
        return found

    def _nearest(
        self, name: str, metric: str, vector: Vector, k: int, flt: Filter, *, use_index: bool
    ) -> list[Match]:
        operator = sql.SQL(_OPS[metric][0])
        condition, params = where(flt)
        statement = sql.SQL(
            "WITH nearest AS MATERIALIZED (SELECT id, metadata, embedding {} %s::vector AS d "
            "FROM {} WHERE {} ORDER BY d LIMIT %s) SELECT id, metadata, d FROM nearest "
            "ORDER BY d, id"
        ).format(operator, self.tables.records(name), condition)
        with self._tx() as cur:
            cur.execute(f"SET LOCAL hnsw.ef_search = {min(1000, max(self.ef_search, k))}")
            cur.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cur.execute(f"SET LOCAL hnsw.max_scan_tuples = {int(self.max_scan_tuples)}")
            if not use_index:
                cur.execute("SET LOCAL enable_indexscan = off")
            cur.execute(statement, [_text(vector), *params, k])
            rows = cur.fetchall()
        return [Match(rid, _score(metric, float(d)), dict(meta)) for rid, meta, d in rows]


def _record(row: Any) -> VectorRecord:
    rid, text, metadata = row
    vector = None if text is None else np.asarray(json.loads(text), dtype=np.float32)
    return VectorRecord(rid, vector, dict(metadata))
