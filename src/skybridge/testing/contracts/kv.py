"""Contract suite every key-value store passes.

Subclass :class:`KVContract` and provide a fixture ``make_kv``: a callable
``make_kv(namespace, **options) -> KeyValueStore`` whose stores share one backing database, so
two calls with the same namespace see the same data. The suite builds the ``kv`` fixture from it
(a fresh namespace per test, a :class:`ManualClock` as ``clock``)::

    class TestSQLite(KVContract):
        @pytest.fixture
        def make_kv(self, tmp_path):
            url = f"sqlite:///{tmp_path}/kv.db"
            return lambda namespace, **options: connect(url, namespace=namespace, **options)
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybridge.backends.kv import BatchWrite, Item, KeyValueStore, connect
from skybridge.core.clock import ManualClock
from skybridge.core.errors import ConfigError, Conflict, SkybridgeError, ValidationError

MakeKV = Callable[..., KeyValueStore]

GLOB_KEYS = ["a*", "a?", "a[b]", "a[!b]", "a\\*", "a{b,c}", "a^$", "a.*", "a%_"]
UNICODE_KEYS = ["ключ", "日本語/キー", "emoji/🔑", "tab\tkey", " spaced ", "a/b/c", "e\u0301"]
ORDER_KEYS = ["b", "a", "ab", "a\x7f", "aé", "a\uffff", "a😀", "A", "0", "a b", "a/b", "a~"]
BAD_KEYS: list[Any] = ["", "nul\x00byte", "x" * 1025, "é" * 513, "\ud800", 42, b"bytes", None]
LARGE_VALUE_BYTES = 400_000

KEY_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=40
)
KEYS = st.one_of(KEY_TEXT, st.builds("".join, st.lists(st.sampled_from("*?[]!^\\{}"), min_size=1)))


def cas_increment(url: str, namespace: str, key: str, times: int) -> int:
    """Add ``times`` to the integer at ``key`` with a compare-and-set loop; returns conflicts.

    Module-level so ``multiprocessing`` can run it in other processes.
    """
    conflicts = 0
    with connect(url, namespace=namespace) as kv:
        done = 0
        while done < times:
            item = kv.get_item(key)
            current = int(item.value) if item else 0
            try:
                kv.compare_and_set(key, str(current + 1).encode(), item.version if item else 0)
            except Conflict:
                conflicts += 1
                continue
            done += 1
    return conflicts


def cas_claim(url: str, namespace: str, key: str, value: bytes) -> bool:
    """Try to create ``key`` (expected version 0); ``True`` if this caller won."""
    with connect(url, namespace=namespace) as kv:
        try:
            kv.compare_and_set(key, value, 0)
        except Conflict:
            return False
        return True


def _race_to_create(kv: KeyValueStore, key: str, *, contenders: int) -> list[str]:
    """Start ``contenders`` threads at once, each creating ``key``; their outcomes."""
    barrier = threading.Barrier(contenders)
    outcomes: list[str] = []

    def contend(name: str) -> None:
        barrier.wait()
        try:
            kv.compare_and_set(key, name.encode(), 0)
            outcomes.append("won")
        except Conflict:
            outcomes.append("lost")

    threads = [threading.Thread(target=contend, args=(f"t{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


class KVContract:
    """Behaviour shared by every :class:`KeyValueStore`; needs a ``make_kv`` fixture."""

    #: Examples for the hypothesis round-trip property (lower it for slow backends).
    hypothesis_examples: ClassVar[int] = 50

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def namespace(self) -> str:
        return f"t-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def kv(self, make_kv: MakeKV, namespace: str, clock: ManualClock) -> Iterator[KeyValueStore]:
        with make_kv(namespace, clock=clock) as store:
            yield store

    # -- basics ------------------------------------------------------------------------------

    def test_capabilities_and_ping(self, kv: KeyValueStore) -> None:
        assert {"ttl", "cas", "batch"} <= kv.capabilities
        assert kv.supports("cas")
        kv.ping()

    def test_missing_key(self, kv: KeyValueStore) -> None:
        assert kv.get("missing") is None
        assert kv.get_item("missing") is None
        assert kv.exists("missing") is False
        assert kv.get_many(["missing"]) == {}
        assert kv.delete("missing") is False

    def test_put_get_and_versions(self, kv: KeyValueStore) -> None:
        assert kv.put("k", b"one") == 1
        assert kv.put("k", b"two") == 2
        assert kv.put("k", b"three") == 3
        item = kv.get_item("k")
        assert item == Item("k", b"three", 3, None)
        assert kv.get("k") == b"three"
        assert kv.exists("k")

    def test_item_repr_hides_value(self, kv: KeyValueStore) -> None:
        kv.put("secretish", b"hunter2-value")
        assert "hunter2" not in repr(kv.get_item("secretish"))

    def test_empty_and_binary_values(self, kv: KeyValueStore) -> None:
        every_byte = bytes(range(256)) * 4
        kv.put("empty", b"")
        kv.put("binary", every_byte)
        kv.put("from-bytearray", bytearray(b"ba"))
        kv.put("from-memoryview", memoryview(b"mv"))
        assert kv.get("empty") == b""
        assert kv.get_item("empty") == Item("empty", b"", 1, None)
        assert kv.get("binary") == every_byte
        assert kv.get_many(["from-bytearray", "from-memoryview"]) == {
            "from-bytearray": b"ba",
            "from-memoryview": b"mv",
        }

    def test_text_values_are_refused_with_a_hint(self, kv: KeyValueStore) -> None:
        with pytest.raises(ValidationError, match="bytes") as info:
            kv.put("k", "text")  # type: ignore[arg-type]
        assert "encode" in str(info.value)
        assert kv.get("k") is None

    @pytest.mark.parametrize("key", UNICODE_KEYS + GLOB_KEYS)
    def test_unicode_and_glob_keys(self, kv: KeyValueStore, key: str) -> None:
        kv.put(key, key.encode())
        kv.put(key + "-sibling", b"x")
        assert kv.get(key) == key.encode()
        assert [item.key for item in kv.scan_prefix(key)] == [key, key + "-sibling"]

    def test_glob_chars_do_not_match_other_keys(self, kv: KeyValueStore) -> None:
        kv.put_many({"a": b"", "ab": b"", "a*": b"", "a*b": b"", "a?": b"", "a[b]": b""})
        assert list(kv.keys("a*")) == ["a*", "a*b"]
        assert list(kv.keys("a?")) == ["a?"]
        assert list(kv.keys("a[")) == ["a[b]"]

    @pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
    def test_bad_keys_are_refused(self, kv: KeyValueStore, key: Any) -> None:
        for operation in (
            lambda: kv.put(key, b"v"),
            lambda: kv.get(key),
            lambda: kv.get_many([key]),
            lambda: kv.delete(key),
            lambda: kv.compare_and_set(key, b"v", 0),
        ):
            with pytest.raises(ValidationError):
                operation()

    def test_key_limit_messages_say_what_to_fix(self, kv: KeyValueStore) -> None:
        longest = "k" * 1024
        kv.put(longest, b"v")
        assert kv.get(longest) == b"v"
        with pytest.raises(ValidationError, match=r"1025 bytes.*limit is 1024"):
            kv.put(longest + "k", b"v")
        with pytest.raises(ValidationError, match="NUL"):
            kv.put("a\x00b", b"v")
        with pytest.raises(ValidationError, match="empty"):
            kv.put("", b"v")

    def test_large_value_round_trip(self, kv: KeyValueStore) -> None:
        assert kv.max_value_size >= LARGE_VALUE_BYTES
        value = bytes(range(256)) * (LARGE_VALUE_BYTES // 256) + b"tail"
        kv.put("large", value)
        assert kv.get("large") == value

    def test_value_over_the_limit_is_a_validation_error(self, kv: KeyValueStore) -> None:
        too_big = b"\x01" * (kv.max_value_size + 1)
        with pytest.raises(ValidationError, match=str(kv.max_value_size)):
            kv.put("big", too_big)
        with pytest.raises(ValidationError):
            kv.put_many({"ok": b"", "big": too_big})
        assert kv.get_many(["big", "ok"]) == {}

    # -- delete ------------------------------------------------------------------------------

    def test_delete(self, kv: KeyValueStore) -> None:
        kv.put("k", b"v")
        assert kv.delete("k") is True
        assert kv.get("k") is None
        assert kv.delete("k") is False
        assert kv.put("k", b"again") == 1, "a deleted key starts again at version 1"

    def test_delete_with_expected_version(self, kv: KeyValueStore) -> None:
        kv.put("k", b"v1")
        kv.put("k", b"v2")
        with pytest.raises(Conflict):
            kv.delete("k", expected_version=1)
        assert kv.get("k") == b"v2"
        assert kv.delete("k", expected_version=2) is True
        with pytest.raises(Conflict):
            kv.delete("k", expected_version=2)
        with pytest.raises(ValidationError):
            kv.delete("k", expected_version=0)

    # -- compare and set ---------------------------------------------------------------------

    def test_compare_and_set(self, kv: KeyValueStore) -> None:
        assert kv.compare_and_set("k", b"first", 0) == 1
        with pytest.raises(Conflict, match="already exists"):
            kv.compare_and_set("k", b"again", 0)
        assert kv.compare_and_set("k", b"second", 1) == 2
        with pytest.raises(Conflict, match="version 1"):
            kv.compare_and_set("k", b"stale", 1)
        assert kv.get_item("k") == Item("k", b"second", 2, None)
        with pytest.raises(Conflict):
            kv.compare_and_set("absent", b"v", 3)
        assert kv.get("absent") is None

    @pytest.mark.parametrize("version", [-1, 1.0, True, "1", None])
    def test_compare_and_set_refuses_bad_versions(self, kv: KeyValueStore, version: Any) -> None:
        with pytest.raises(ValidationError):
            kv.compare_and_set("k", b"v", version)

    def test_conflict_is_a_skybridge_error(self, kv: KeyValueStore) -> None:
        kv.put("k", b"v")
        with pytest.raises(SkybridgeError) as info:
            kv.compare_and_set("k", b"v", 0)
        assert isinstance(info.value, Conflict)
        assert info.value.http_status == 409

    def test_cas_race_exactly_one_winner(self, kv: KeyValueStore) -> None:
        for round_ in range(5):
            key = f"race-{round_}"
            assert sorted(_race_to_create(kv, key, contenders=2)) == ["lost", "won"]
            item = kv.get_item(key)
            assert item is not None
            assert item.version == 1

    def test_concurrent_cas_increments_lose_nothing(
        self, make_kv: MakeKV, namespace: str, clock: ManualClock
    ) -> None:
        stores = [make_kv(namespace, clock=clock) for _ in range(3)]
        per_thread = 6

        def increment(store: KeyValueStore) -> None:
            done = 0
            while done < per_thread:
                item = store.get_item("counter")
                current = int(item.value) if item else 0
                try:
                    store.compare_and_set(
                        "counter", str(current + 1).encode(), item.version if item else 0
                    )
                    done += 1
                except Conflict:
                    pass

        threads = [threading.Thread(target=increment, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        item = stores[0].get_item("counter")
        for store in stores:
            store.close()
        assert item is not None
        assert (int(item.value), item.version) == (3 * per_thread, 3 * per_thread)

    # -- scans -------------------------------------------------------------------------------

    def test_scan_orders_by_code_point(self, kv: KeyValueStore) -> None:
        kv.put_many({k: k.encode() for k in ORDER_KEYS})
        items = list(kv.scan_prefix())
        assert [i.key for i in items] == sorted(ORDER_KEYS)
        assert all(i.value == i.key.encode() and i.version == 1 for i in items)
        assert list(kv.keys("a")) == sorted(k for k in ORDER_KEYS if k.startswith("a"))

    def test_prefix_bounds_at_the_top_of_unicode(self, kv: KeyValueStore) -> None:
        top = "\U0010ffff"
        keys = ["a", "a" + top, "a" + top + "z", "b", "a\uffff", top, top + "x", "a\ud7ff"]
        kv.put_many(dict.fromkeys(keys, b""))
        assert list(kv.keys("a" + top)) == ["a" + top, "a" + top + "z"]
        assert list(kv.keys(top)) == [top, top + "x"]
        assert list(kv.keys("a\ud7ff")) == ["a\ud7ff"]
        assert list(kv.keys("c")) == []

    def test_scan_paginates_past_page_size(self, kv: KeyValueStore) -> None:
        kv.page_size = 7
        expected = [f"p/{i:03d}" for i in range(30)]
        kv.put_many({k: k.encode() for k in reversed(expected)})
        kv.put("q", b"outside the prefix")
        assert [i.key for i in kv.scan_prefix("p/")] == expected
        assert [i.key for i in kv.scan_prefix("p/", limit=10)] == expected[:10]
        assert [i.key for i in kv.scan_prefix("p/", start_after="p/013")] == expected[14:]
        assert [i.key for i in kv.scan_prefix("p/", start_after="p/0135")] == expected[14:]
        assert list(kv.scan_prefix("p/", start_after="p/029")) == []
        assert list(kv.scan_prefix("p/", start_after="a")) != []
        assert list(kv.scan_prefix("p/", start_after="zzz")) == []
        assert list(kv.scan_prefix("p/", limit=0)) == []

    def test_scan_refuses_bad_arguments(self, kv: KeyValueStore) -> None:
        with pytest.raises(ValidationError):
            kv.scan_prefix("a\x00")
        with pytest.raises(ValidationError):
            kv.scan_prefix(limit=-1)
        with pytest.raises(ValidationError):
            kv.scan_prefix(start_after="")

    # -- TTL ---------------------------------------------------------------------------------

    def test_ttl_expiry_is_invisible_everywhere(
        self, kv: KeyValueStore, clock: ManualClock
    ) -> None:
        kv.put("short", b"s", ttl=10)
        kv.put("long", b"l", ttl=100)
        kv.put("forever", b"f")
        assert kv.get_item("short") == Item("short", b"s", 1, clock.now() + 10)
        clock.advance(9.9)
        assert kv.get("short") == b"s"
        clock.advance(0.2)
        assert kv.get("short") is None
        assert kv.get_item("short") is None
        assert not kv.exists("short")
        assert kv.get_many(["short", "long", "forever"]) == {"long": b"l", "forever": b"f"}
        assert list(kv.keys()) == ["forever", "long"]
        assert kv.delete("short") is False
        with pytest.raises(Conflict):
            kv.compare_and_set("short", b"x", 1)
        with pytest.raises(Conflict):
            kv.delete("short", expected_version=1)

    def test_writing_an_expired_key_starts_at_version_1(
        self, kv: KeyValueStore, clock: ManualClock
    ) -> None:
        kv.put("k", b"a", ttl=5)
        kv.put("k", b"b", ttl=5)
        clock.advance(6)
        assert kv.put("k", b"c") == 1
        kv.put("j", b"a", ttl=5)
        clock.advance(6)
        assert kv.compare_and_set("j", b"b", 0) == 1
        assert kv.get_item("j") == Item("j", b"b", 1, None)

    def test_put_without_ttl_clears_the_expiry(self, kv: KeyValueStore, clock: ManualClock) -> None:
        kv.put("k", b"a", ttl=5)
        assert kv.compare_and_set("k", b"b", 1) == 2
        clock.advance(10)
        assert kv.get_item("k") == Item("k", b"b", 2, None)

    def test_cas_can_set_a_ttl(self, kv: KeyValueStore, clock: ManualClock) -> None:
        kv.compare_and_set("lease", b"me", 0, ttl=30)
        with pytest.raises(Conflict):
            kv.compare_and_set("lease", b"you", 0, ttl=30)
        clock.advance(31)
        assert kv.compare_and_set("lease", b"you", 0, ttl=30) == 1
        assert kv.get("lease") == b"you"

    def test_scan_skips_expired_items_across_pages(
        self, kv: KeyValueStore, clock: ManualClock
    ) -> None:
        kv.page_size = 3
        for i in range(12):
            kv.put(f"k{i:02d}", b"", ttl=5 if i % 3 else None)
        clock.advance(6)
        assert list(kv.keys()) == ["k00", "k03", "k06", "k09"]
        assert list(kv.keys(limit=3)) == ["k00", "k03", "k06"]

    def test_purge_expired_keeps_live_items(self, kv: KeyValueStore, clock: ManualClock) -> None:
        kv.put("old", b"", ttl=1)
        kv.put("live", b"", ttl=100)
        clock.advance(2)
        assert kv.purge_expired() in (0, 1)
        assert list(kv.keys()) == ["live"]
        assert kv.get("old") is None

    @pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), "10", True])
    def test_bad_ttl_is_refused(self, kv: KeyValueStore, ttl: Any) -> None:
        with pytest.raises(ValidationError):
            kv.put("k", b"v", ttl=ttl)
        assert kv.get("k") is None

    # -- batches -----------------------------------------------------------------------------

    def test_batches_beyond_service_chunk_sizes(self, kv: KeyValueStore) -> None:
        values = {f"b/{i:03d}": str(i).encode() for i in range(130)}
        versions = kv.put_many(values)
        assert versions == dict.fromkeys(values, 1)
        assert kv.put_many({"b/000": b"new", "b/001": b"new"}) == {"b/000": 2, "b/001": 2}
        wanted = [*values, "missing", "b/005"]
        got = kv.get_many(wanted)
        assert got == {**values, "b/000": b"new", "b/001": b"new"}
        kv.delete_many([*list(values)[:100], "missing"])
        assert list(kv.keys("b/")) == list(values)[100:]
        assert kv.get_many([]) == {}
        assert kv.put_many({}) == {}
        kv.delete_many([])

    def test_put_many_with_ttl(self, kv: KeyValueStore, clock: ManualClock) -> None:
        kv.put_many({"a": b"1", "b": b"2"}, ttl=5)
        assert kv.get_items(["a", "b"])["a"].expires_at == clock.now() + 5
        clock.advance(5)
        assert kv.get_many(["a", "b"]) == {}

    # -- write_batch -------------------------------------------------------------------------

    def test_write_batch_applies_guarded_puts_and_deletes(self, kv: KeyValueStore) -> None:
        kv.put("a", b"1")
        kv.put("gone", b"x")
        kv.put("loose", b"old")
        versions = kv.write_batch(
            [
                BatchWrite("a", b"2", expected=1),
                BatchWrite("new", b"n", expected=0),
                BatchWrite("gone", None, expected=1),
                BatchWrite("loose", b"l"),
                BatchWrite("fresh", b"f"),
            ]
        )
        assert list(versions.items()) == [
            ("a", 2),
            ("new", 1),
            ("gone", 0),
            ("loose", 2),
            ("fresh", 1),
        ]
        assert kv.get_many(["a", "new", "gone", "loose", "fresh"]) == {
            "a": b"2",
            "new": b"n",
            "loose": b"l",
            "fresh": b"f",
        }
        assert kv.get_item("a").version == 2  # type: ignore[union-attr]
        assert kv.write_batch([]) == {}

    @pytest.mark.parametrize("bad", ["version", "exists", "absent-delete"])
    def test_write_batch_is_all_or_nothing(self, kv: KeyValueStore, bad: str) -> None:
        if "atomic_batch" not in kv.capabilities:
            pytest.xfail("no atomic_batch capability")
        kv.put_many({"a": b"1", "b": b"1", "c": b"1"})
        stale = {
            "version": BatchWrite("b", b"2", expected=7),
            "exists": BatchWrite("b", b"2", expected=0),
            "absent-delete": BatchWrite("nope", None, expected=1),
        }[bad]
        batch = [
            BatchWrite("a", b"2", expected=1),
            BatchWrite("new", b"2", expected=0),
            BatchWrite("c", None, expected=1),
            stale,
            BatchWrite("d", b"2"),
        ]
        with pytest.raises(Conflict):
            kv.write_batch(batch)
        assert kv.get_many(["a", "b", "c", "d", "new"]) == {"a": b"1", "b": b"1", "c": b"1"}
        assert [kv.get_item(k).version for k in "abc"] == [1, 1, 1]  # type: ignore[union-attr]

    def test_write_batch_chunks_apply_in_order(self, kv: KeyValueStore) -> None:
        size = kv.max_atomic_batch or 100
        keys = [f"w/{i:04d}" for i in range(size + 20)]
        versions = kv.write_batch(BatchWrite(k, k.encode(), expected=0) for k in keys)
        assert list(versions) == keys
        assert set(versions.values()) == {1}
        assert list(kv.keys("w/")) == keys
        # A stale guard in the last write: chunks before it apply, its own chunk does not.
        batch = [BatchWrite(k, b"2", expected=1) for k in keys[:-1]]
        batch.append(BatchWrite(keys[-1], b"2", expected=9))
        with pytest.raises(Conflict):
            kv.write_batch(batch)
        updated = {k for k, v in kv.get_many(keys).items() if v == b"2"}
        if kv.max_atomic_batch is None and "atomic_batch" in kv.capabilities:
            assert updated == set()
        elif kv.max_atomic_batch is not None:
            assert updated == set(keys[:size])

    def test_write_batch_refuses_bad_input(self, kv: KeyValueStore) -> None:
        with pytest.raises(ValidationError, match="twice"):
            kv.write_batch([BatchWrite("a", b"1"), BatchWrite("a", b"2")])
        with pytest.raises(ValidationError):
            kv.write_batch([BatchWrite("a", None, expected=0)])
        with pytest.raises(ValidationError):
            kv.write_batch([BatchWrite("", b"1")])
        assert kv.get("a") is None

    def test_write_batch_over_an_expired_key(self, kv: KeyValueStore, clock: ManualClock) -> None:
        kv.put("t", b"1", ttl=5)
        kv.put("t", b"2", ttl=5)
        clock.advance(6)
        assert kv.write_batch([BatchWrite("t", b"3", expected=0)]) == {"t": 1}
        assert kv.get_item("t").expires_at is None  # type: ignore[union-attr]

    # -- namespaces and JSON -----------------------------------------------------------------

    def test_namespaces_are_isolated(self, kv: KeyValueStore, make_kv: MakeKV) -> None:
        kv.put("shared", b"mine")
        kv.put("only-mine", b"x")
        with make_kv(f"{kv.namespace}-other") as other, make_kv(kv.namespace) as same:
            assert other.get("shared") is None
            other.put("shared", b"theirs")
            assert list(other.keys()) == ["shared"]
            assert other.delete("only-mine") is False
            assert same.get_many(["shared", "only-mine"]) == {"shared": b"mine", "only-mine": b"x"}
            other.delete_many(["shared", "only-mine"])
        assert kv.get("shared") == b"mine"
        assert list(kv.keys()) == ["only-mine", "shared"]

    @pytest.mark.parametrize("namespace", ["", "has space", "a:b", "{tag}", "x" * 65])
    def test_bad_namespace_is_a_config_error(self, make_kv: MakeKV, namespace: str) -> None:
        with pytest.raises(ConfigError, match="namespace"):
            make_kv(namespace)

    def test_json_helpers(self, kv: KeyValueStore) -> None:
        document = {"name": "zoë", "n": [1, 2.5, None, True]}
        assert kv.put_json("doc", document) == 1
        assert kv.get_json("doc") == document
        assert kv.get("doc") == '{"name":"zoë","n":[1,2.5,null,true]}'.encode()
        assert kv.get_json("missing") is None
        kv.put("raw", b"\xff not json")
        with pytest.raises(ValidationError, match="not JSON"):
            kv.get_json("raw")
        with pytest.raises(ValidationError, match="JSON"):
            kv.put_json("bad", {"set": {1}})

    # -- property ----------------------------------------------------------------------------

    def test_round_trip_property(self, kv: KeyValueStore) -> None:
        @settings(max_examples=self.hypothesis_examples, deadline=None, database=None)
        @given(key=KEYS, value=st.binary(max_size=512))
        def round_trip(key: str, value: bytes) -> None:
            kv.delete(key)
            assert kv.put(key, value) == 1
            assert kv.get_item(key) == Item(key, value, 1, None)
            assert kv.get_many([key]) == {key: value}
            assert next(kv.scan_prefix(key)).key == key
            assert kv.delete(key) is True
            assert kv.get(key) is None

        round_trip()
