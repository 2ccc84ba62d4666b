"""Collections' generations and the change feed (``VectorStore.changes``) on every store.

The feed's promise: the records as they were at a revision, with ``changes`` since it applied
(deleted ids removed, upserted records put), are the records as they are now; a store that
cannot tell answers ``None``.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybridge.backends.vectors import VectorRecord, VectorStore, connect
from skybridge.backends.vectors.embedded import EmbeddedVectorStore
from skybridge.core.errors import NotFound, ValidationError
from skybridge.testing.contracts.vectors import CollectionFixtures

from .test_opensearch import documented, store_with

MakeStore = Callable[..., VectorStore]
Snapshot = dict[str, dict[str, Any]]
#: (deleted ids a collection counts, rows it keeps) of a collection name
Kept = Callable[[str], tuple[int, int]]

#: (operation, ids picked from a small pool, a version number for the text)
#: Examples of operation sequences per replay test, on stores shared across examples.
REPLAYS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.differing_executors,
        HealthCheck.too_slow,
    ],
)

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["upsert", "delete", "properties"]),
        st.lists(st.sampled_from([f"r{n}" for n in range(8)]), min_size=1, max_size=4, unique=True),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=10,
)


def records(ids: list[str], version: int) -> list[VectorRecord]:
    return [VectorRecord(i, [1.0, 0.5], {"text": f"{i} v{version}"}) for i in ids]


def apply_step(store: VectorStore, name: str, operation: str, ids: list[str], version: int) -> None:
    """One step of :data:`OPERATIONS`: an upsert, a delete or a change of properties."""
    if operation == "upsert":
        store.upsert(name, records(ids, version))
    elif operation == "delete":
        store.delete(name, ids)
    else:
        store.set_properties(name, {"v": str(version)})


def snapshot(store: VectorStore, name: str) -> Snapshot:
    return {r.id: r.metadata for r in store.scan(name)}


def replayed(before: Snapshot, store: VectorStore, name: str, since: int, generation: str) -> Any:
    """``before`` (the records at ``since``) with the changes since applied."""
    changes = store.changes(name, since, generation=generation)
    assert changes is not None
    assert not {r.id for r in changes.upserted} & set(changes.deleted)
    assert all(r.vector is None for r in changes.upserted)
    after = dict(before)
    for rid in changes.deleted:
        after.pop(rid, None)
    after.update({r.id: r.metadata for r in changes.upserted})
    return after, changes


def check_replays(store: VectorStore, name: str, generation: str, seen: dict[int, Snapshot]) -> int:
    """Each revision of ``seen`` (its records then) replays to the records now, or is older
    than every revision the feed answers for (some are answered: the newest); that oldest one.
    """
    now = snapshot(store, name)
    answered = {r for r in seen if store.changes(name, r, generation=generation) is not None}
    first = min(answered)
    assert answered == {r for r in seen if r >= first}
    for revision in sorted(answered):
        after, _ = replayed(seen[revision], store, name, revision, generation)
        assert after == now
    return first


class ChangesContract(CollectionFixtures):
    """What every store with the ``changes`` capability keeps."""

    dimension = 2

    def test_a_collection_made_again_has_another_generation(
        self, store: VectorStore, name: str
    ) -> None:
        store.upsert(name, records(["a", "b"], 0))
        before = store.collection(name)
        assert before.generation
        assert before.to_dict()["generation"] == before.generation
        store.drop_collection(name)
        store.create_collection(name, 2)
        store.upsert(name, records(["c"], 0))
        after = store.collection(name)
        assert after.revision == before.revision
        assert after.generation != before.generation
        assert store.changes(name, before.revision, generation=before.generation) is None
        assert store.changes(name, 0, generation=after.generation) is not None

    def test_changes_since_a_revision(self, store: VectorStore, name: str) -> None:
        store.upsert(name, records(["a", "b", "c"], 0))
        first = store.collection(name)
        store.delete(name, ["b"])
        store.upsert(name, records(["c", "d"], 1))
        store.delete(name, ["d", "missing"])
        store.upsert(name, records(["b"], 2))
        store.delete(name, ["a"])
        changes = store.changes(name, first.revision, generation=first.generation)
        assert changes is not None
        assert changes.revision == store.collection(name).revision
        assert [(r.id, r.metadata["text"]) for r in changes.upserted] == [
            ("b", "b v2"),
            ("c", "c v1"),
        ]
        assert "a" in changes.deleted
        assert not {"b", "c"} & set(changes.deleted)
        now = store.collection(name)
        nothing = store.changes(name, now.revision, generation=now.generation)
        assert nothing is not None
        assert (nothing.upserted, nothing.deleted) == ([], [])

    def test_a_property_change_moves_the_revision_and_changes_no_record(
        self, store: VectorStore, name: str
    ) -> None:
        store.upsert(name, records(["a"], 0))
        before = store.collection(name)
        store.set_properties(name, {"model": "m"})
        changes = store.changes(name, before.revision, generation=before.generation)
        assert changes is not None
        assert changes.revision == before.revision + 1
        assert (changes.upserted, changes.deleted) == ([], [])

    def test_what_it_cannot_tell_is_none(self, store: VectorStore, name: str) -> None:
        store.upsert(name, records(["a"], 0))
        info = store.collection(name)
        assert store.changes(name, info.revision + 1, generation=info.generation) is None
        assert store.changes(name, 0, generation="another") is None

    def test_bad_input_is_refused(self, store: VectorStore, name: str) -> None:
        generation = store.collection(name).generation
        for bad in (-1, "1", 1.0, True, None):
            with pytest.raises(ValidationError, match="since_revision"):
                store.changes(name, bad, generation=generation)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="generation"):
            store.changes(name, 0, generation=None)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="collection name"):
            store.changes("Bad Name", 0, generation=generation)
        with pytest.raises(NotFound):
            store.changes(f"c{uuid.uuid4().hex[:12]}", 0, generation=generation)

    @REPLAYS
    @given(steps=OPERATIONS)
    def test_replaying_the_changes_gives_the_records_now(
        self, store: VectorStore, steps: list[Any]
    ) -> None:
        name = f"c{uuid.uuid4().hex[:12]}"
        info = store.create_collection(name, 2)
        try:
            seen: dict[int, Snapshot] = {info.revision: {}}
            written: dict[str, int] = {}
            for operation, ids, version in steps:
                apply_step(store, name, operation, ids, version)
                revision = store.collection(name).revision
                if operation == "upsert":
                    written.update(dict.fromkeys(ids, revision))
                seen[revision] = snapshot(store, name)
            now = snapshot(store, name)
            for revision, before in seen.items():
                after, changes = replayed(before, store, name, revision, info.generation)
                assert after == now
                # exactly the records written since, and no deleted id that was absent then
                assert {r.id for r in changes.upserted} == {i for i in now if written[i] > revision}
                assert set(changes.deleted) >= set(before) - set(now)
                assert not set(changes.deleted) & set(now)
        finally:
            store.drop_collection(name)

    def test_deleted_ids_kept_stay_bounded_and_the_feed_starts_after_them(
        self, make_store: MakeStore, kept: Kept
    ) -> None:
        """Rounds of re-ingest (new ids written, the old ones deleted) keep at most
        max(count, keep_deleted) deleted ids, counted right; the feed answers ``None`` for a
        revision before the ids it still keeps and exactly after."""
        floor = 25
        with make_store(keep_deleted=floor) as store:
            name = f"c{uuid.uuid4().hex[:12]}"
            info = store.create_collection(name, 2)
            try:
                seen: dict[int, Snapshot] = {info.revision: {}}
                old: list[str] = []
                for round_ in range(30):
                    new = [f"v{round_}-{n}" for n in range(10)]
                    store.upsert(name, records(new, round_))
                    seen[store.collection(name).revision] = snapshot(store, name)
                    store.delete(name, old)
                    now = store.collection(name)
                    seen[now.revision] = snapshot(store, name)
                    counted, rows = kept(name)
                    assert counted == rows <= max(now.count, floor)
                    old = new
                first = check_replays(store, name, info.generation, seen)
                assert first > info.revision  # pruned: the feed no longer starts at the start
            finally:
                store.drop_collection(name)

    @REPLAYS
    @given(steps=OPERATIONS)
    def test_after_prunes_the_feed_answers_exactly_or_none(
        self, make_store: MakeStore, kept: Kept, steps: list[Any]
    ) -> None:
        with make_store(keep_deleted=2) as store:
            name = f"c{uuid.uuid4().hex[:12]}"
            info = store.create_collection(name, 2)
            try:
                seen: dict[int, Snapshot] = {info.revision: {}}
                for operation, ids, version in steps:
                    apply_step(store, name, operation, ids, version)
                    now = store.collection(name)
                    seen[now.revision] = snapshot(store, name)
                    counted, rows = kept(name)
                    assert counted == rows <= max(now.count, 2)
                check_replays(store, name, info.generation, seen)
            finally:
                store.drop_collection(name)

    def test_a_reader_following_concurrent_writers_keeps_up(
        self, make_store: MakeStore, store: VectorStore, name: str
    ) -> None:
        info = store.collection(name)
        errors: list[BaseException] = []

        def write(worker: int) -> None:
            try:
                with make_store() as writer:
                    for n in range(15):
                        ids = [f"w{worker}-{n}", f"shared-{n % 4}"]
                        writer.upsert(name, records(ids, n))
                        if n % 3 == 2:
                            writer.delete(name, [f"w{worker}-{n - 1}", f"shared-{(n + 1) % 4}"])
            except BaseException as exc:  # handed to the test
                errors.append(exc)

        workers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
        for worker in workers:
            worker.start()
        held: Snapshot = {}
        revision = info.revision
        while any(w.is_alive() for w in workers):
            held, changes = replayed(held, store, name, revision, info.generation)
            revision = changes.revision
        for worker in workers:
            worker.join()
        assert not errors
        held, _ = replayed(held, store, name, revision, info.generation)
        assert held == snapshot(store, name)


class TestEmbedded(ChangesContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Any:
        return lambda **options: connect(f"embedded://{tmp_path}/vectors", **options)

    @pytest.fixture
    def kept(self, tmp_path: Path) -> Kept:
        def count(name: str) -> tuple[int, int]:
            with sqlite3.connect(tmp_path / "vectors" / "vectors.db") as conn:
                row = conn.execute(
                    "SELECT kept_deleted, (SELECT count(*) FROM tombstones WHERE collection = ?) "
                    "FROM collections WHERE name = ?",
                    (name, name),
                ).fetchone()
            return row[0], row[1]

        return count


@pytest.mark.postgres
class TestPgVector(ChangesContract):
    @pytest.fixture
    def make_store(self, postgres_server: Any) -> Any:
        url = postgres_server.url.replace("postgresql://", "pgvector://")
        return lambda **options: connect(url, **options)

    @pytest.fixture
    def kept(self, postgres_server: Any) -> Kept:
        def count(name: str) -> tuple[int, int]:
            with psycopg.connect(postgres_server.url) as conn:
                row = conn.execute(
                    "SELECT kept_deleted, (SELECT count(*) FROM vectors__deleted "
                    "WHERE collection = %s) FROM vectors__collections WHERE name = %s",
                    (name, name),
                ).fetchone()
            assert row is not None
            return row[0], row[1]

        return count


class NoFeed(EmbeddedVectorStore):
    """The embedded store, declaring no change feed."""

    capabilities = EmbeddedVectorStore.capabilities - {"changes"}


def test_a_store_without_the_capability_answers_none(tmp_path: Path) -> None:
    with NoFeed(tmp_path) as store:
        info = store.create_collection("docs", 2)
        store.upsert("docs", records(["a"], 0))
        assert store.changes("docs", 0, generation=info.generation) is None
        assert store.changes("nothing", 0, generation="") is None  # not even looked up
        with pytest.raises(ValidationError):
            store.changes("docs", -1, generation=info.generation)


def test_opensearch_has_no_feed_and_records_a_generation() -> None:
    store, recorded = store_with(documented)
    store.create_collection("docs", 3)
    registry = next(
        body for _, url, body in recorded if url.startswith("/vectors--collections/_create")
    )
    assert len(registry["generation"]) == 32
    calls = len(recorded)
    assert store.changes("docs", 0, generation=registry["generation"]) is None
    assert len(recorded) == calls
    # a collection made before generations were recorded reads an empty one
    assert store.collection("docs").generation == ""
