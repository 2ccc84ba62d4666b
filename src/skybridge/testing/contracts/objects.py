"""Contract suite every object store passes.

Subclass :class:`ObjectsContract` and provide a fixture ``objects`` yielding a fresh, empty,
isolated store whose ``page_size`` is small (at most 3) so that listings span several pages, and
whose multipart threshold is small enough that :data:`BIG_OBJECT_BYTES` is uploaded in parts::

    class TestFile(ObjectsContract):
        @pytest.fixture
        def objects(self, tmp_path):
            return FileObjectStore(tmp_path, page_size=2)
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from skybridge.backends.objects import CommonPrefix, ObjectInfo, ObjectStore
from skybridge.core.errors import Conflict, NotFound, ValidationError

BIG_OBJECT_BYTES = 12 * 1024 * 1024
INVALID_KEYS = ["", "/abs", "a/../b", "..", "a/./b", "a//b", "a/", "a\\b", "nul\x00byte", "\ud800"]
UNICODE_KEYS = [
    "ünïcödé/日本語 ファイル.txt",
    "emoji/🚀 launch.bin",
    "specials/a+b=c&d?e#f%20g;h,i@j$k!l'(m)*n~o",
    "spaces/ leading and trailing ",
]


def pattern_chunks(size: int, seed: int = 7) -> Iterator[bytes]:
    """Deterministic pseudo-random chunks of odd sizes, ``size`` bytes in total."""
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    sent = 0
    step = 200_003  # odd, so chunk boundaries never align with any part size
    while sent < size:
        n = min(step, size - sent)
        yield (block * (n // len(block) + 1))[:n]
        sent += n


class ObjectsContract:
    """Behaviour shared by every :class:`ObjectStore`; needs an ``objects`` fixture."""

    # -- put / get / head ----------------------------------------------------------------------

    def test_round_trip_bytes(self, objects: ObjectStore) -> None:
        objects.put("greeting.txt", b"hello world")
        assert objects.get("greeting.txt") == b"hello world"

    def test_bytes_like_and_file_like_bodies(self, objects: ObjectStore) -> None:
        objects.put("a", bytearray(b"from bytearray"))
        objects.put("b", memoryview(b"from memoryview"))
        objects.put("c", io.BytesIO(b"from a file"))
        objects.put("d", iter([b"from ", b"", b"chunks"]))
        assert [objects.get(k) for k in "abcd"] == [
            b"from bytearray",
            b"from memoryview",
            b"from a file",
            b"from chunks",
        ]

    def test_empty_object(self, objects: ObjectStore) -> None:
        objects.put("empty", b"")
        assert objects.get("empty") == b""
        assert objects.head("empty").size == 0

    def test_head_reports_size_etag_time_and_default_type(self, objects: ObjectStore) -> None:
        before = datetime.now(UTC) - timedelta(seconds=5)
        objects.put("doc", b"12345")
        info = objects.head("doc")
        assert (info.key, info.size, info.content_type) == ("doc", 5, "application/octet-stream")
        assert info.etag
        assert '"' not in info.etag
        assert info.last_modified.tzinfo is not None
        assert before <= info.last_modified <= datetime.now(UTC) + timedelta(seconds=5)
        assert dict(info.metadata) == {}
        assert objects.stat("doc") == info

    def test_metadata_and_content_type_round_trip(self, objects: ObjectStore) -> None:
        meta = {"owner": "team-data", "source-sha": "ab12", "note": "printable ascii ok!"}
        objects.put("m.json", b"{}", content_type="application/json", metadata=meta)
        info = objects.head("m.json")
        assert info.content_type == "application/json"
        assert dict(info.metadata) == meta

    def test_overwrite_replaces_content_type_and_metadata(self, objects: ObjectStore) -> None:
        objects.put("k", b"one", content_type="text/plain", metadata={"v": "1", "old": "x"})
        first = objects.head("k")
        objects.put("k", b"second", metadata={"v": "2"})
        second = objects.head("k")
        assert objects.get("k") == b"second"
        assert second.size == 6
        assert second.etag != first.etag
        assert second.content_type == "application/octet-stream"
        assert dict(second.metadata) == {"v": "2"}

    def test_failed_streaming_put_keeps_previous_object(self, objects: ObjectStore) -> None:
        objects.put("atomic", b"previous")

        def broken() -> Iterator[bytes]:
            yield b"partial data"
            raise RuntimeError("source died")

        with pytest.raises(RuntimeError, match="source died"):
            objects.put("atomic", broken())
        assert objects.get("atomic") == b"previous"

    # -- streaming -----------------------------------------------------------------------------

    def test_streaming_round_trip_of_a_multipart_object(self, objects: ObjectStore) -> None:
        expected = hashlib.sha256(b"".join(pattern_chunks(BIG_OBJECT_BYTES))).hexdigest()
        objects.put("big/blob.bin", pattern_chunks(BIG_OBJECT_BYTES), content_type="video/mp4")
        assert objects.head("big/blob.bin").size == BIG_OBJECT_BYTES
        digest, largest = hashlib.sha256(), 0
        for chunk in objects.iter_chunks("big/blob.bin", chunk_size=1024 * 1024):
            digest.update(chunk)
            largest = max(largest, len(chunk))
        assert digest.hexdigest() == expected
        assert largest <= 1024 * 1024
        with objects.open("big/blob.bin") as handle:
            head = handle.read(10)
            rest = handle.read()
        assert hashlib.sha256(head + rest).hexdigest() == expected

    def test_file_like_upload_and_partial_reads(self, objects: ObjectStore) -> None:
        payload = b"line one\nline two\n" * 1000
        objects.put("lines.txt", io.BufferedReader(io.BytesIO(payload)), content_type="text/plain")
        with objects.open("lines.txt", chunk_size=7) as handle:
            assert handle.readline() == b"line one\n"
            assert handle.read(9) == b"line two\n"
            assert handle.read() == payload[18:]

    def test_body_iterator_must_yield_bytes(self, objects: ObjectStore) -> None:
        with pytest.raises(ValidationError, match="bytes"):
            objects.put("bad", iter(["text"]))  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="encode"):
            objects.put("bad", "text")  # type: ignore[arg-type]
        assert not objects.exists("bad")

    # -- missing keys, delete, exists ----------------------------------------------------------

    def test_missing_key_raises_not_found(self, objects: ObjectStore) -> None:
        with pytest.raises(NotFound):
            objects.get("nope")
        with pytest.raises(NotFound):
            objects.head("nope/deeper")
        with pytest.raises(NotFound):
            objects.iter_chunks("nope")  # raised on open, before any iteration
        with pytest.raises(NotFound):
            objects.open("nope")

    def test_exists_and_idempotent_delete(self, objects: ObjectStore) -> None:
        objects.put("dir/file", b"x")
        assert objects.exists("dir/file")
        assert not objects.exists("dir")
        objects.delete("dir/file")
        assert not objects.exists("dir/file")
        objects.delete("dir/file")
        objects.delete("never/existed")
        assert list(objects.list()) == []

    def test_delete_many_removes_every_key_and_is_idempotent(self, objects: ObjectStore) -> None:
        keys = [f"many/{n // 3}/k{n:04d}" for n in range(25)]
        for key in keys:
            objects.put(key, b"x")
        objects.put("many-keep", b"kept")
        objects.delete_many([*keys, "many/never", keys[0]])
        assert list(objects.keys("many/")) == []
        assert objects.get("many-keep") == b"kept"
        objects.delete_many(keys)  # again: nothing to do, no error
        objects.delete_many([])

    def test_delete_many_checks_every_key_before_removing_any(self, objects: ObjectStore) -> None:
        objects.put("kept/a", b"x")
        for bad in ("a/../b", "x" * 1100):
            with pytest.raises(ValidationError):
                objects.delete_many(["kept/a", bad])
            assert objects.get("kept/a") == b"x"

    def test_copy_keeps_content_type_and_metadata(self, objects: ObjectStore) -> None:
        objects.put("src", b"payload", content_type="text/csv", metadata={"k": "v"})
        objects.copy("src", "copies/dst")
        info = objects.head("copies/dst")
        assert objects.get("copies/dst") == b"payload"
        assert (info.content_type, dict(info.metadata)) == ("text/csv", {"k": "v"})
        assert objects.get("src") == b"payload"
        with pytest.raises(NotFound):
            objects.copy("missing", "other")

    # -- keys ----------------------------------------------------------------------------------

    @pytest.mark.parametrize("key", UNICODE_KEYS)
    def test_unicode_and_special_character_keys(self, objects: ObjectStore, key: str) -> None:
        objects.put(key, key.encode(), metadata={"k": "v"})
        assert objects.get(key) == key.encode()
        assert dict(objects.head(key).metadata) == {"k": "v"}
        assert next(objects.keys(key.split("/")[0] + "/")) == key
        objects.delete(key)
        assert not objects.exists(key)

    @pytest.mark.parametrize("key", INVALID_KEYS)
    def test_invalid_keys_are_rejected(self, objects: ObjectStore, key: str) -> None:
        for call in (
            lambda: objects.put(key, b"x"),
            lambda: objects.get(key),
            lambda: objects.head(key),
            lambda: objects.delete(key),
        ):
            with pytest.raises(ValidationError, match="key"):
                call()

    @pytest.mark.parametrize(
        "metadata",
        [{"Upper": "x"}, {"under_score": "x"}, {"k": "naïve"}, {"k": " pad"}, {"k": "x" * 3000}],
    )
    def test_invalid_metadata_is_rejected(
        self, objects: ObjectStore, metadata: dict[str, str]
    ) -> None:
        with pytest.raises(ValidationError, match="metadata"):
            objects.put("k", b"x", metadata=metadata)

    def test_key_that_is_also_a_prefix(self, objects: ObjectStore) -> None:
        objects.put("n/x", b"child")
        if objects.supports("nested_prefixes"):
            objects.put("n", b"parent")
            assert (objects.get("n"), objects.get("n/x")) == (b"parent", b"child")
        else:
            with pytest.raises(Conflict):
                objects.put("n", b"parent")
            with pytest.raises(Conflict):
                objects.put("n/x/y", b"grandchild")
            assert objects.get("n/x") == b"child"

    # -- listing -------------------------------------------------------------------------------

    def test_listing_spans_pages_in_key_order(self, objects: ObjectStore) -> None:
        keys = [f"p/{i:02d}" for i in range(11)] + ["p-sibling", "p/0/nested", "q"]
        for key in reversed(keys):
            objects.put(key, key.encode())
        assert objects.page_size <= 3
        assert list(objects.keys()) == sorted(keys)
        listed = list(objects.list("p/"))
        assert [e.key for e in listed] == sorted(k for k in keys if k.startswith("p/"))
        for entry in listed:
            assert isinstance(entry, ObjectInfo)
            assert entry.size == len(entry.key.encode())
            assert entry.etag == objects.head(entry.key).etag

    def test_prefix_isolation(self, objects: ObjectStore) -> None:
        for key in ["logs/a", "logs/b", "logsx/c", "log", "other/logs/d"]:
            objects.put(key, b"x")
        assert list(objects.keys("logs/")) == ["logs/a", "logs/b"]
        assert list(objects.keys("logs")) == ["logs/a", "logs/b", "logsx/c"]
        assert list(objects.keys("nothing/")) == []

    def test_delimiter_rolls_up_common_prefixes(self, objects: ObjectStore) -> None:
        for key in ["d/a", "d/b/1", "d/b/2", "d/b/3", "d/c", "d/e/f/g", "d/z", "e/x"]:
            objects.put(key, b"x")
        entries = list(objects.list("d/", delimiter="/"))
        assert [(type(e).__name__, e.key) for e in entries] == [
            ("ObjectInfo", "d/a"),
            ("CommonPrefix", "d/b/"),
            ("ObjectInfo", "d/c"),
            ("CommonPrefix", "d/e/"),
            ("ObjectInfo", "d/z"),
        ]
        top = list(objects.list(delimiter="/"))
        assert top == [CommonPrefix("d/"), CommonPrefix("e/")]

    def test_listing_reflects_deletes(self, objects: ObjectStore) -> None:
        for key in ["x/1", "x/2", "x/3", "x/4"]:
            objects.put(key, b"x")
        objects.delete("x/2")
        assert list(objects.keys("x/")) == ["x/1", "x/3", "x/4"]

    def test_ping(self, objects: ObjectStore) -> None:
        objects.ping()
