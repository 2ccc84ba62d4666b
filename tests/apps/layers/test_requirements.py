"""Requirements files: what counts as pinned, includes, and a fingerprint blind to order."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.apps.layers.requirements import read_requirements
from skybridge.apps.layers.targets import Target
from skybridge.core.errors import ValidationError


def test_lock_file_with_hashes_and_markers_is_pinned(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# pip-compile output\n"
        "requests==2.32.3 \\\n    --hash=sha256:abc \\\n    --hash=sha256:def\n"
        "typing-extensions==4.12.2 ; python_version < '3.13'  # via pydantic\n"
        "pydantic[email]==2.9.2\n"
    )
    found = read_requirements(path)
    assert found.pinned, found.unpinned
    assert len(found.lines) == 3


def test_ranges_and_bare_names_are_unpinned(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("requests>=2.31\nnumpy\nboto3==1.*\nidna==3.7\n")
    assert read_requirements(path).unpinned == ("requests>=2.31", "numpy", "boto3==1.*")


def test_included_files_count_and_missing_ones_are_named(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("idna==3.7\n")
    main = tmp_path / "requirements.txt"
    main.write_text("-r base.txt\nrequests==2.32.3\n")
    assert "idna==3.7" in read_requirements(main).lines
    main.write_text("-r missing.txt\n")
    with pytest.raises(ValidationError, match=r"missing\.txt"):
        read_requirements(main)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# nothing\n\n--index-url https://example.invalid/simple\n")
    with pytest.raises(ValidationError, match="names no requirement"):
        read_requirements(path)


@given(st.permutations(["a==1", "b==2", "c==3", "d==4"]))
def test_fingerprint_ignores_order_comments_and_blanks(order: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.txt"
        path.write_text("# header\n\n" + "\n".join(f"{line}   # note" for line in order) + "\n")
        assert read_requirements(path).fingerprint() == "a==1\nb==2\nc==3\nd==4"


def test_targets_widen_the_glibc_tags_of_their_runtime() -> None:
    new = Target("python3.12", "arm64").platforms()
    assert new[0] == "manylinux_2_34_aarch64"
    assert new[-1] == "manylinux2014_aarch64"
    assert "manylinux_2_17_aarch64" in new
    old = Target("python3.10", "x86_64").platforms()
    assert old[0] == "manylinux_2_26_x86_64"
    assert old[-2:] == ["manylinux2010_x86_64", "manylinux1_x86_64"]
    with pytest.raises(ValidationError, match=r"python3\.9"):
        Target("python3.9", "x86_64")


def test_a_folder_given_as_the_requirements_file_is_called_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"requirements file .* is a folder"):
        read_requirements(tmp_path)
