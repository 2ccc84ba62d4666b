"""The ``file://`` object store: contract plus folder-specific safety checks."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybridge.backends.objects import ObjectStore, connect, validate_key
from skybridge.backends.objects.file import FileObjectStore
from skybridge.backends.objects.file_errors import os_errors
from skybridge.core.errors import (
    ConfigError,
    NotFound,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.testing.contracts.objects import ObjectsContract


class TestFile(ObjectsContract):
    @pytest.fixture
    def objects(self, tmp_path: Path) -> FileObjectStore:
        return FileObjectStore(tmp_path / "store", page_size=2, fsync=False)


@pytest.fixture
def store(tmp_path: Path) -> FileObjectStore:
    return FileObjectStore(tmp_path / "store", page_size=2, fsync=False)


def test_connect_relative_and_absolute_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = connect("file://rel/dir?page_size=5")
    absolute = connect(f"file://{tmp_path}/abs")
    assert isinstance(relative, FileObjectStore)
    assert relative.page_size == 5
    assert relative.root == tmp_path.resolve() / "rel" / "dir"
    assert isinstance(absolute, FileObjectStore)
    assert absolute.root == tmp_path.resolve() / "abs"
    with pytest.raises(ConfigError, match="page_size"):
        connect("file://x?page_size=many")


def test_objects_are_plain_files_with_a_sidecar(store: FileObjectStore) -> None:
    store.put("reports/q1.csv", b"a,b\n", content_type="text/csv", metadata={"k": "v"})
    assert (store.root / "reports" / "q1.csv").read_bytes() == b"a,b\n"
    record = json.loads((store.root / ".skybridge/meta/reports/q1.csv.json").read_text())
    assert record["metadata"] == {"k": "v"}
    assert store.head("reports/q1.csv").etag == "f69f5b72bc79a92dc70c63c9aa142e36"  # md5 hex
    assert list(os.scandir(store.root / ".skybridge" / "tmp")) == []


def test_files_dropped_in_by_hand_are_objects(store: FileObjectStore) -> None:
    (store.root / "inbox").mkdir()
    (store.root / "inbox" / "hand.txt").write_bytes(b"hello")
    info = store.head("inbox/hand.txt")
    assert info.etag == "5d41402abc4b2a76b9719d911017c592"
    assert (info.content_type, dict(info.metadata)) == ("application/octet-stream", {})
    assert list(store.keys()) == ["inbox/hand.txt"]


def test_sidecar_of_an_outside_edit_is_ignored(store: FileObjectStore) -> None:
    store.put("k", b"old", metadata={"v": "1"})
    (store.root / "k").write_bytes(b"changed outside")
    info = store.head("k")
    assert info.size == 15
    assert dict(info.metadata) == {}


def test_reserved_folder_is_not_a_key(store: FileObjectStore) -> None:
    with pytest.raises(ValidationError, match="reserved"):
        store.put(".skybridge/meta/x", b"x")
    store.put("visible", b"x")
    assert list(store.keys()) == ["visible"]


@pytest.mark.parametrize("bad", [".skybridge/meta/x", "long/" + "y" * 251])
def test_delete_many_refuses_a_key_of_the_store_before_removing_any(
    store: FileObjectStore, bad: str
) -> None:
    store.put("kept/a", b"x")
    with pytest.raises(ValidationError):
        store.delete_many(["kept/a", bad])
    assert store.get("kept/a") == b"x"


def test_delete_many_prunes_each_emptied_folder(store: FileObjectStore) -> None:
    for n in range(6):
        store.put(f"a/b{n % 2}/c{n}", b"x")
    store.put("a/keep", b"x")
    store.delete_many([f"a/b{n % 2}/c{n}" for n in range(6)])
    assert sorted(p.name for p in (store.root / "a").iterdir()) == ["keep"]
    assert not (store.root / ".skybridge" / "meta" / "a" / "b0").exists()


def test_delete_prunes_empty_folders(store: FileObjectStore) -> None:
    store.put("a/b/c/d", b"x")
    store.put("a/keep", b"x")
    store.delete("a/b/c/d")
    assert not (store.root / "a" / "b").exists()
    assert (store.root / "a" / "keep").exists()
    assert not (store.root / ".skybridge" / "meta" / "a" / "b").exists()


@pytest.mark.parametrize("key", ["../escape", "a/../../escape", "/etc/passwd", "a/../b"])
def test_traversal_keys_never_touch_the_outside(store: FileObjectStore, key: str) -> None:
    with pytest.raises(ValidationError):
        store.put(key, b"pwned")
    assert sorted(p.name for p in store.root.parent.iterdir()) == ["store"]


def test_symlink_out_of_the_root_is_refused(store: FileObjectStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"top secret")
    (store.root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(TerminalError, match="outside"):
        store.get("link/secret")
    with pytest.raises(TerminalError, match="outside"):
        store.put("link/new", b"x")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert list(store.keys()) == []


def test_overlong_segment_is_a_validation_error(store: FileObjectStore) -> None:
    with pytest.raises(ValidationError, match="segment"):
        store.put("x" * 251, b"x")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (errno.ENOENT, NotFound),
        (errno.EACCES, TerminalError),
        (errno.ENOSPC, TerminalError),
        (errno.EMFILE, TransientError),
    ],
)
def test_os_errors_are_translated(code: int, error: type[Exception]) -> None:
    with pytest.raises(error, match="'some/key'"), os_errors("some/key"):
        raise OSError(code, os.strerror(code))


segment = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="/\\"
    ),
    min_size=1,
    max_size=30,
).filter(lambda s: s not in {".", "..", ".skybridge"})


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segments=st.lists(segment, min_size=1, max_size=4), data=st.binary(max_size=300))
def test_any_valid_key_round_trips(
    store: FileObjectStore, segments: list[str], data: bytes
) -> None:
    key = "/".join(segments)
    assert validate_key(key) == key
    store.put(key, data)
    try:
        assert store.get(key) == data
        assert list(store.keys()) == [key]
        assert store.root in (store.root / key).resolve().parents
    finally:
        store.delete(key)
    assert list(store.keys()) == []


@given(key=st.text(max_size=40))
def test_key_validation_accepts_exactly_the_portable_keys(key: str) -> None:
    segments = key.split("/")
    portable = (
        bool(key)
        and not any(s in {"", ".", ".."} for s in segments)
        and not any(ord(c) < 32 or c in "\x7f\\" or 0xD800 <= ord(c) <= 0xDFFF for c in key)
    )
    if portable:
        assert validate_key(key) == key
    else:
        with pytest.raises(ValidationError):
            validate_key(key)


def test_registry_resolves_every_builtin_scheme() -> None:
    from skybridge.backends.objects import registry

    assert registry.schemes() == ["file", "oci", "s3"]
    for scheme in ("file", "s3", "oci"):
        assert issubclass(registry.resolve(scheme), ObjectStore)
