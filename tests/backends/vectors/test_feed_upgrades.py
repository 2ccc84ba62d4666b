"""Stores made before generations and the change feed are upgraded in place, losing nothing;
the feed answers ``None`` for the span it cannot vouch for."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from skybridge.backends.vectors import VectorRecord, connect
from skybridge.core.errors import ConfigError


def test_a_row_id_used_again_keeps_both_deletions(tmp_path: Path) -> None:
    """SQLite gives a later row the id of the newest row deleted: both deletions are kept."""
    with connect(f"embedded://{tmp_path}") as store:
        info = store.create_collection("docs", 2)
        store.upsert("docs", [VectorRecord(i, [1, 0], {}) for i in ("x", "a")])
        since = store.collection("docs").revision
        store.delete("docs", ["a"])
        store.upsert("docs", [VectorRecord("b", [1, 0], {})])
        store.delete("docs", ["b"])
        with sqlite3.connect(tmp_path / "vectors.db") as conn:
            keys = conn.execute("SELECT key, id FROM tombstones ORDER BY id").fetchall()
        assert [k for k, _ in keys] == [keys[0][0]] * 2  # the same row id, twice
        changes = store.changes("docs", since, generation=info.generation)
        assert changes is not None
        assert (changes.upserted, changes.deleted) == ([], ["a", "b"])


def make_version_1_file(folder: Path) -> int:
    """An embedded store file as version 1 left it, with a deletion; its revision then."""
    with connect(f"embedded://{folder}") as store:
        store.create_collection("docs", 2)
        store.upsert("docs", [VectorRecord(i, [1, 0], {"text": i}) for i in ("a", "b", "c")])
        store.delete("docs", ["a"])
        revision = store.collection("docs").revision
    with sqlite3.connect(folder / "vectors.db") as conn:
        conn.executescript(
            """
            CREATE TABLE old_tombstones (
                collection TEXT NOT NULL, key INTEGER NOT NULL, seq INTEGER NOT NULL,
                PRIMARY KEY (collection, key));
            INSERT INTO old_tombstones SELECT collection, key, seq FROM tombstones;
            DROP TABLE tombstones;
            ALTER TABLE old_tombstones RENAME TO tombstones;
            CREATE INDEX tombstones_seq ON tombstones (collection, seq);
            ALTER TABLE collections DROP COLUMN feed_from;
            ALTER TABLE collections DROP COLUMN kept_deleted;
            PRAGMA user_version = 1;
            """
        )
    return revision


def feed_columns(folder: Path, name: str = "docs") -> tuple[int, int]:
    """The collection's (feed_from, kept_deleted) as the file holds them."""
    with sqlite3.connect(folder / "vectors.db") as conn:
        row = conn.execute(
            "SELECT feed_from, kept_deleted FROM collections WHERE name = ?", (name,)
        ).fetchone()
    return row[0], row[1]


def test_a_version_1_file_gets_tombstone_ids_and_a_feed_from_then_on(tmp_path: Path) -> None:
    revision = make_version_1_file(tmp_path)
    with connect(f"embedded://{tmp_path}") as store:
        info = store.collection("docs")
        assert info.revision == revision
        # the deletion of "a" left a tombstone without its id: the feed cannot tell before it
        assert store.changes("docs", revision - 1, generation=info.generation) is None
        store.delete("docs", ["b"])
        store.upsert("docs", [VectorRecord("d", [1, 0], {"text": "d"})])
        changes = store.changes("docs", revision, generation=info.generation)
        assert changes is not None
        assert ([r.id for r in changes.upserted], changes.deleted) == (["d"], ["b"])
        assert sorted(r.id for r in store.scan("docs")) == ["c", "d"]
        assert store.query("docs", [1, 0], k=5)[0].id in {"c", "d"}
    with sqlite3.connect(tmp_path / "vectors.db") as conn:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        columns = [row[1] for row in conn.execute("PRAGMA table_info(tombstones)")]
        held = conn.execute("SELECT id FROM tombstones ORDER BY seq").fetchall()
    assert version == 3
    assert columns == ["collection", "key", "id", "seq"]
    assert held == [(None,), ("b",)]
    # the feed starts after the tombstone without an id; both tombstones are counted
    assert feed_columns(tmp_path) == (revision, 2)


def make_version_2_file(folder: Path) -> int:
    """An embedded store file as version 2 left it (no ``feed_from``, no count of tombstones),
    with two deletions; its revision then."""
    with connect(f"embedded://{folder}") as store:
        store.create_collection("docs", 2)
        store.create_collection("empty", 2)
        store.upsert("docs", [VectorRecord(i, [1, 0], {"text": i}) for i in "abcdef"])
        store.delete("docs", ["a"])
        store.delete("docs", ["b"])
        revision = store.collection("docs").revision
    with sqlite3.connect(folder / "vectors.db") as conn:
        conn.executescript(
            """
            ALTER TABLE collections DROP COLUMN feed_from;
            ALTER TABLE collections DROP COLUMN kept_deleted;
            PRAGMA user_version = 2;
            """
        )
    return revision


def test_a_version_2_file_counts_its_tombstones_and_keeps_them_bounded(tmp_path: Path) -> None:
    revision = make_version_2_file(tmp_path)
    with connect(f"embedded://{tmp_path}", keep_deleted=3) as store:
        info = store.collection("docs")
        assert feed_columns(tmp_path) == (0, 2)
        assert feed_columns(tmp_path, "empty") == (0, 0)
        changes = store.changes("docs", 0, generation=info.generation)  # all tombstones have ids
        assert changes is not None
        assert ([r.id for r in changes.upserted], changes.deleted) == (list("cdef"), ["a", "b"])
        # 4 kept, over max(2 records, 3): all pruned (to keep 1, the newest deletion has 2)
        store.delete("docs", ["c", "d"])
        assert store.changes("docs", revision, generation=info.generation) is None
        now = store.collection("docs")
        assert feed_columns(tmp_path) == (now.revision, 0)
        assert sorted(r.id for r in store.scan("docs")) == ["e", "f"]
        assert sorted(m.id for m in store.query("docs", [1, 0], k=5)) == ["e", "f"]
        store.delete("docs", ["e"])
        changes = store.changes("docs", now.revision, generation=info.generation)
        assert changes is not None
        assert (changes.upserted, changes.deleted) == ([], ["e"])
    with sqlite3.connect(tmp_path / "vectors.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (3,)


# -- pgvector -----------------------------------------------------------------------------------


@pytest.fixture
def old_tables(postgres_server: Any) -> Iterator[tuple[str, str]]:
    """Tables of a pgvector store from before versions (prefix of their own), and its URL."""
    prefix = f"up{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(
            f"CREATE TABLE {prefix}__collections (name text PRIMARY KEY, dimension int NOT NULL,"
            " metric text NOT NULL, properties jsonb NOT NULL, revision bigint NOT NULL,"
            " count bigint NOT NULL DEFAULT 0)"
        )
        for name in ("docs", "other"):
            conn.execute(
                f"INSERT INTO {prefix}__collections VALUES (%s, 2, 'cosine', '{{}}', 5, 2)", (name,)
            )
            conn.execute(
                f"CREATE TABLE {prefix}_{name} (id text PRIMARY KEY, embedding vector(2) NOT NULL,"
                " metadata jsonb NOT NULL)"
            )
            conn.execute(
                f"INSERT INTO {prefix}_{name} VALUES ('a', '[1,0]', '{{\"text\": \"a\"}}'), "
                "('b', '[0,1]', '{\"text\": \"b\"}')"
            )
    url = postgres_server.url.replace("postgresql://", "pgvector://")
    yield prefix, f"{url}{'&' if '?' in url else '?'}prefix={prefix}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        for table in ("_docs", "_other", "_made", "__collections", "__deleted"):
            conn.execute(f"DROP TABLE IF EXISTS {prefix}{table}")
        conn.execute(f"DROP FUNCTION IF EXISTS {prefix}__feed_guard()")
        conn.execute("DELETE FROM skybridge_schema WHERE component = %s", (f"pgvector:{prefix}",))


@pytest.mark.postgres
def test_pgvector_tables_from_before_versions_are_upgraded(
    postgres_server: Any, old_tables: tuple[str, str]
) -> None:
    prefix, url = old_tables
    with connect(url) as store:
        docs, other = store.collection("docs"), store.collection("other")
        assert (docs.revision, docs.count) == (5, 2)
        assert len(docs.generation) == len(other.generation) == 32
        assert docs.generation != other.generation
        assert sorted(r.id for r in store.scan("docs")) == ["a", "b"]
        # what was deleted before the upgrade is unknown: no feed before it
        assert store.changes("docs", 4, generation=docs.generation) is None
        store.upsert("docs", [VectorRecord("c", [1, 1], {"text": "c"})])
        store.delete("docs", ["a"])
        changes = store.changes("docs", 5, generation=docs.generation)
        assert changes is not None
        assert ([r.id for r in changes.upserted], changes.deleted) == (["c"], ["a"])
        assert store.query("docs", [0, 1], k=1)[0].id == "b"
    with connect(url) as again:  # opening again upgrades nothing more
        assert again.collection("docs").generation == docs.generation
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        version = conn.execute(
            "SELECT version FROM skybridge_schema WHERE component = %s", (f"pgvector:{prefix}",)
        ).fetchone()
        assert version == (3,)
        # a writer that does not stamp the rows it writes (an older skybridge) is refused
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute(f"INSERT INTO {prefix}_other VALUES ('z', '[1,0]', '{{}}')")
    _older_writers_are_refused(postgres_server, prefix, "other")


def _older_writers_are_refused(postgres_server: Any, prefix: str, name: str) -> None:
    """What an older skybridge writes would go past the change feed: it is refused, and a
    delete is told to upgrade."""
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as refused:
            conn.execute(f"DELETE FROM {prefix}_{name} WHERE id = 'a'")
        assert "change feed" in str(refused.value)
        assert refused.value.diag.message_hint == (
            "upgrade skybridge in the process that deleted them"
        )
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute(
                f"INSERT INTO {prefix}__collections (name, dimension, metric, properties, "
                "revision) VALUES ('made', 2, 'cosine', '{}', 0)"
            )


@pytest.mark.postgres
def test_pgvector_collections_made_now_refuse_older_writers_too(
    postgres_server: Any, old_tables: tuple[str, str]
) -> None:
    prefix, url = old_tables
    with connect(url) as store:
        store.create_collection("made", dimension=2, metric="cosine")
        store.upsert("made", [VectorRecord("a", [1, 0], {"text": "a"})])
        _older_writers_are_refused(postgres_server, prefix, "made")
        assert [r.id for r in store.scan("made")] == ["a"]  # the refused delete removed nothing
        assert store.delete("made", ["a"]) == 1  # this skybridge's deletes go on
        info = store.collection("made")
        changes = store.changes("made", 1, generation=info.generation)
        assert changes is not None
        assert changes.deleted == ["a"]


@pytest.mark.postgres
def test_pgvector_version_1_tables_get_their_deleted_ids_counted(
    postgres_server: Any, old_tables: tuple[str, str]
) -> None:
    prefix, url = old_tables
    with connect(url) as store:
        store.upsert("docs", [VectorRecord(i, [1, 1], {"text": i}) for i in "cdef"])
        store.delete("docs", ["a", "c"])
        store.delete("other", ["a"])
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:  # back to version 1
        conn.execute(f"ALTER TABLE {prefix}__collections DROP COLUMN kept_deleted")
        conn.execute(
            "UPDATE skybridge_schema SET version = 1 WHERE component = %s", (f"pgvector:{prefix}",)
        )

    def counted() -> dict[str, tuple[int, int]]:
        with psycopg.connect(postgres_server.url, autocommit=True) as conn:
            rows = conn.execute(
                f"SELECT name, feed_from, kept_deleted FROM {prefix}__collections"
            ).fetchall()
        return {name: (feed_from, kept) for name, feed_from, kept in rows}

    with connect(url, keep_deleted=3) as store:
        assert counted() == {"docs": (5, 2), "other": (5, 1)}
        info = store.collection("docs")
        changes = store.changes("docs", 5, generation=info.generation)
        assert changes is not None
        assert changes.deleted == ["a", "c"]
        # 4 kept, over max(2 records, 3): all pruned (to keep 1, the newest deletion has 2)
        store.delete("docs", ["d", "e"])
        now = store.collection("docs")
        assert counted()["docs"] == (now.revision, 0)
        assert store.changes("docs", 5, generation=info.generation) is None
        assert sorted(r.id for r in store.scan("docs")) == ["b", "f"]
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        version = conn.execute(
            "SELECT version FROM skybridge_schema WHERE component = %s", (f"pgvector:{prefix}",)
        ).fetchone()
    assert version == (3,)


@pytest.mark.postgres
@pytest.mark.parametrize("column", ["missing", "zero"])
def test_pgvector_collections_from_before_versions_get_their_records_counted(
    postgres_server: Any, old_tables: tuple[str, str], column: str
) -> None:
    """Before versions, ``count`` was added with DEFAULT 0 and never filled in."""
    prefix, url = old_tables
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        if column == "missing":  # made before the column
            conn.execute(f"ALTER TABLE {prefix}__collections DROP COLUMN count")
        else:  # the column added by an open, its rows left at 0
            conn.execute(f"UPDATE {prefix}__collections SET count = 0")
        conn.execute(f"INSERT INTO {prefix}_other VALUES ('c', '[1,1]', '{{}}')")
    with connect(url) as store:
        assert (store.collection("docs").count, store.collection("other").count) == (2, 3)
        store.delete("other", ["a"])
        assert store.collection("other").count == 2


@pytest.mark.postgres
def test_pgvector_version_2_tables_get_their_records_counted_again(
    postgres_server: Any, old_tables: tuple[str, str]
) -> None:
    prefix, url = old_tables
    connect(url).close()
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:  # back to version 2,
        # with counts a version 1 upgrade left wrong
        conn.execute(f"UPDATE {prefix}__collections SET count = 0 WHERE name = 'docs'")
        conn.execute(f"UPDATE {prefix}__collections SET count = 7 WHERE name = 'other'")
        conn.execute(
            "UPDATE skybridge_schema SET version = 2 WHERE component = %s", (f"pgvector:{prefix}",)
        )
    with connect(url) as store:
        assert (store.collection("docs").count, store.collection("other").count) == (2, 2)
        info = store.collection("docs")
        store.upsert("docs", [VectorRecord("c", [1, 1], {"text": "c"})])
        assert store.collection("docs").count == 3
        # counting again is no write: the feed and the revision stay as they were
        changes = store.changes("docs", info.revision, generation=info.generation)
        assert changes is not None
        assert [r.id for r in changes.upserted] == ["c"]
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        version = conn.execute(
            "SELECT version FROM skybridge_schema WHERE component = %s", (f"pgvector:{prefix}",)
        ).fetchone()
    assert version == (3,)


@pytest.mark.postgres
def test_pgvector_tables_of_a_newer_version_are_refused(
    postgres_server: Any, old_tables: tuple[str, str]
) -> None:
    prefix, url = old_tables
    connect(url).close()
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE skybridge_schema SET version = 9 WHERE component = %s", (f"pgvector:{prefix}",)
        )
    with pytest.raises(ConfigError, match="newer skybridge"):
        connect(url)
