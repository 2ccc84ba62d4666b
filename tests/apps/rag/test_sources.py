"""Local sources: links are followed only where the confinement allows, and that is reported.

No model is loaded here: these tests list and read sources without ingesting them.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.rag.sources import (
    BROKEN,
    NOT_A_FILE,
    OUTSIDE,
    SEEN,
    SERVICE_DATA,
    Confinement,
    Source,
    local_path,
    local_source,
    open_source,
)
from skybridge.core.errors import ValidationError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``docs/`` (a folder to ingest) next to ``private/`` and ``.skybridge/`` (not to be read)."""
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# A\n\nPlain.")
    (docs / "sub" / "b.md").write_text("# B\n\nNested.")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "keys.md").write_text("# Keys\n\nroot password tangerine")
    (tmp_path / ".skybridge").mkdir()
    (tmp_path / ".skybridge" / "session_secret").write_text("0123456789abcdef" * 4)
    return tmp_path


def _keys(source: Source) -> list[str]:
    return [d.key for d in source.documents]


def _refused(source: Source) -> dict[str, str]:
    return {r["document"]: r["reason"] for r in source.refused}


def test_a_link_to_a_file_outside_the_folder_is_refused_and_cannot_be_read(tree: Path) -> None:
    (tree / "docs" / "leak.md").symlink_to(tree / "private" / "keys.md")
    (tree / "docs" / "session.txt").symlink_to(tree / ".skybridge" / "session_secret")
    source = local_source(str(tree / "docs"))
    assert _keys(source) == ["a.md", "sub/b.md"]
    assert _refused(source) == {"leak.md": OUTSIDE, "session.txt": OUTSIDE}
    assert source.ignored == []
    for key in ("leak.md", "session.txt", "../private/keys.md", "sub/../../private/keys.md"):
        with pytest.raises(ValidationError, match="not a file of this source"):
            source.read(key)


def test_a_linked_folder_outside_the_folder_is_not_followed(tree: Path) -> None:
    (tree / "docs" / "more").symlink_to(tree / "private", target_is_directory=True)
    (tree / "docs" / "sub" / "up").symlink_to(tree, target_is_directory=True)
    source = local_source(str(tree / "docs"))
    assert _keys(source) == ["a.md", "sub/b.md"]
    assert _refused(source) == {"more/": OUTSIDE, "sub/up/": OUTSIDE}


def test_links_inside_the_allowed_roots_are_followed(tree: Path) -> None:
    docs = tree / "docs"
    (docs / "alias.md").symlink_to(docs / "sub" / "b.md")
    (docs / "keys").symlink_to(tree / "private", target_is_directory=True)
    allowed = Confinement.of([docs, tree / "private"])
    source = local_source(str(docs), allowed)
    assert _keys(source) == ["a.md", "alias.md", "keys/keys.md", "sub/b.md"]
    assert source.refused == []
    assert source.read("alias.md") == b"# B\n\nNested."
    assert source.read("keys/keys.md").endswith(b"tangerine")
    # By default (the CLI, the Python API) the folder named is the only root.
    assert _refused(local_source(str(docs))) == {"keys/": OUTSIDE}


def test_link_loops_end_and_folders_are_read_once(tree: Path) -> None:
    docs = tree / "docs"
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    (docs / "sub" / "up").symlink_to(docs, target_is_directory=True)
    (docs / "again").symlink_to(docs / "sub", target_is_directory=True)
    (docs / "self.md").symlink_to(docs / "self.md")
    (docs / "gone.md").symlink_to(docs / "nothing-here.md")
    source = local_source(str(docs))
    assert _keys(source) == ["a.md", "sub/b.md"]
    assert _refused(source) == {
        "again/": SEEN,
        "loop/": SEEN,
        "sub/up/": SEEN,
        "self.md": BROKEN,
        "gone.md": BROKEN,
    }


def test_the_data_folder_is_refused_even_inside_an_allowed_parent(tree: Path) -> None:
    docs = tree / "docs"
    data = tree / ".skybridge"
    (docs / "session.txt").symlink_to(data / "session_secret")
    (docs / "state").symlink_to(data, target_is_directory=True)
    (data / "notes.md").write_text("# Notes")
    confinement = Confinement.of([tree], denied=[data])
    source = local_source(str(docs), confinement)
    assert _keys(source) == ["a.md", "sub/b.md"]
    assert _refused(source) == {"session.txt": SERVICE_DATA, "state/": SERVICE_DATA}
    # A data folder with a plain (not hidden) name is refused when walked into, too.
    whole = local_source(str(tree), Confinement.of([tree], denied=[tree / "private"]))
    assert _refused(whole)["private/"] == SERVICE_DATA
    assert not any(key.startswith("private/") for key in _keys(whole))
    # Named directly, a file in it is not read either.
    named = local_source(str(data / "notes.md"), confinement)
    assert (named.documents, _refused(named)) == ([], {"notes.md": SERVICE_DATA})


def test_a_file_replaced_after_the_listing_is_not_read(tree: Path) -> None:
    docs = tree / "docs"
    source = local_source(str(docs))
    (docs / "a.md").unlink()
    (docs / "a.md").symlink_to(tree / "private" / "keys.md")
    with pytest.raises(ValidationError, match="replaced while it was being ingested"):
        source.read("a.md")
    (docs / "sub").rename(docs / "old")
    (docs / "sub").symlink_to(tree / "private", target_is_directory=True)
    (tree / "private" / "keys.md").rename(tree / "private" / "b.md")
    with pytest.raises(ValidationError, match="replaced while it was being ingested"):
        source.read("sub/b.md")


def test_file_urls_in_any_case_are_local_sources(tree: Path) -> None:
    docs = tree / "docs"
    (docs / "leak.md").symlink_to(tree / "private" / "keys.md")
    assert local_path(str(docs)) == str(docs)
    assert local_path(f"FILE://{docs}") == str(docs)
    assert local_path("s3://bucket/docs") is None
    assert local_path("oci://kb@ns/docs") is None
    for url in (f"file://{docs}", f"FILE://{docs}", f"File://{docs}"):
        with open_source(url) as source:  # never the objects backend's file:// store
            assert source.label == f"file://{docs}"
            assert _refused(source) == {"leak.md": OUTSIDE}


def test_special_files_are_left_out_and_listed(tree: Path) -> None:
    os.mkfifo(tree / "docs" / "pipe.md")
    source = local_source(str(tree / "docs"))
    assert _keys(source) == ["a.md", "sub/b.md"]
    assert {"document": "pipe.md", "reason": NOT_A_FILE} in source.refused


def test_what_cannot_be_looked_at_is_unchecked_and_what_is_gone_is_not(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tree / "docs"
    (docs / "gone.md").write_text("# Gone")
    real_scandir, real_stat = os.scandir, Path.stat

    def scandir(path: Any) -> Any:
        if Path(path) == docs / "sub":
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return real_scandir(path)

    def stat(self: Path, **kwargs: Any) -> os.stat_result:
        if self.name == "gone.md":  # deleted between the listing and the look at it
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
        return real_stat(self, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(Path, "stat", stat)
    source = local_source(str(docs))
    assert _keys(source) == ["a.md"]
    assert _refused(source) == {"gone.md": BROKEN, "sub/": "cannot be listed: Permission denied"}
    assert source.unchecked == {"sub/": "cannot be listed: Permission denied"}
    assert [source.unchecked_under(k) for k in ("sub/b.md", "sub/x/y.md", "a.md", "subway.md")] == [
        "sub/",
        "sub/",
        None,
        None,
    ]
    monkeypatch.setattr(os, "scandir", lambda path: scandir(docs / "sub"))
    whole = local_source(str(docs))  # the folder named cannot be listed: nothing is checked
    assert (whole.documents, whole.unchecked_under("a.md")) == ([], "")


def test_a_folder_that_cannot_be_looked_at_is_unchecked_whatever_is_dir_says(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Newer Pythons' ``Path.is_dir`` says ``False`` for any error: a folder it cannot look at
    is still told apart from a file, and what was indexed under it is kept."""
    docs = tree / "docs"
    real_stat = os.stat

    def stat(path: Any, **kwargs: Any) -> os.stat_result:
        if Path(path) == docs / "sub":
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return real_stat(path, **kwargs)

    def is_dir(self: Path, **kwargs: Any) -> bool:  # as Python 3.14's
        try:
            return os.path.isdir(self)
        except (OSError, ValueError):
            return False

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(Path, "is_dir", is_dir)
    source = local_source(str(docs))
    assert _keys(source) == ["a.md"]
    reason = "cannot be read: Permission denied"
    assert source.unchecked == {"sub": reason, "sub/": reason}
    assert source.unchecked_under("sub/b.md") == "sub/"
