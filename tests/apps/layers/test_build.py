"""Builds with pip from tiny real wheels, offline: platform selection, slimming that keeps
dist-info, a truthful RECORD, deterministic zips and the content-addressed cache."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from skybridge.apps.layers import build as build_module
from skybridge.apps.layers.build import BuildRequest, build_layer
from skybridge.apps.layers.install import Sources
from skybridge.apps.layers.interpreters import find_interpreter
from skybridge.apps.layers.smoke import smoke_test
from skybridge.apps.layers.targets import Target
from skybridge.core.errors import ValidationError

from .conftest import HOST_ARCH, HOST_RUNTIME

Write = Callable[[str], Path]
HOST = Target(HOST_RUNTIME, HOST_ARCH)


def _names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        return set(archive.namelist())


def test_slim_build_keeps_dist_info_and_drops_tests_docs_and_stubs(
    tmp_path: Path, offline: Sources, requirements: Write
) -> None:
    request = BuildRequest("deps", requirements("tiny==1.0\n"), HOST, offline)
    result = build_layer(request, tmp_path / "cache")
    names = _names(result.archive.path)
    assert "python/tiny/__init__.py" in names
    assert "python/tiny-1.0.dist-info/METADATA" in names
    assert "python/tiny-1.0.dist-info/entry_points.txt" in names
    assert "python/helper.py" in names  # the dependency came along
    dropped = ("/tests/", "/docs/", "conftest.py", "_speed_tests", ".pyi", ".pyc", ".a")
    assert not [n for n in names if any(part in n for part in dropped)]
    removed = result.slim["removed_bytes"]
    assert removed["tests, docs and examples"] > 1000
    assert removed["sources, headers and stubs"] > 0
    record = (result.site / "tiny-1.0.dist-info" / "RECORD").read_text()
    assert "tiny/tests" not in record
    assert "tiny/__init__.py," in record
    assert {p.name: p.version for p in result.packages} == {"helper": "0.1", "tiny": "1.0"}


def test_platform_wheels_follow_the_target_architecture(
    tmp_path: Path, offline: Sources, requirements: Write
) -> None:
    for architecture, machine in (("arm64", "aarch64"), ("x86_64", "x86_64")):
        request = BuildRequest(
            "bin", requirements("binx==1.0\n"), Target("python3.12", architecture), offline
        )
        names = _names(build_layer(request, tmp_path / "cache").archive.path)
        assert f"python/binx/_core.{machine}.so" in names
        assert len([n for n in names if n.endswith(".so")]) == 1


def test_no_wheel_for_the_target_names_the_package(
    tmp_path: Path, offline: Sources, requirements: Write
) -> None:
    request = BuildRequest(
        "bin", requirements("binx==1.0\n"), Target("python3.11", "arm64"), offline
    )
    with pytest.raises(ValidationError, match="binx") as caught:
        build_layer(request, tmp_path / "cache")
    assert "python3.11/arm64" in caught.value.message
    assert not list((tmp_path / "cache").glob("*/layer.zip"))  # nothing half-written


def test_unchanged_pinned_inputs_come_from_the_cache(
    tmp_path: Path, offline: Sources, requirements: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = BuildRequest("deps", requirements("# pinned\ntiny==1.0\n"), HOST, offline)
    first = build_layer(request, tmp_path / "cache")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip ran for unchanged inputs")

    monkeypatch.setattr(build_module, "pip_install", refuse)
    again = build_layer(request, tmp_path / "cache")
    assert (again.cached, first.cached) == (True, False)
    assert again.archive.sha256 == first.archive.sha256
    other = BuildRequest("deps", request.requirements, HOST, offline, keep=("tiny/docs/*",))
    with pytest.raises(AssertionError, match="pip ran"):
        build_layer(other, tmp_path / "cache")  # another option, another key: rebuilt


def test_unpinned_requirements_are_never_served_from_cache(
    tmp_path: Path, offline: Sources, requirements: Write
) -> None:
    request = BuildRequest("deps", requirements("tiny\n"), HOST, offline)
    first = build_layer(request, tmp_path / "cache")
    second = build_layer(request, tmp_path / "cache")
    assert not first.pinned
    assert not second.cached
    assert first.key != second.key
    assert {p.version for p in second.packages if p.name == "tiny"} == {"2.0"}


def test_same_inputs_give_the_same_bytes(
    tmp_path: Path, offline: Sources, requirements: Write
) -> None:
    path = requirements("tiny==1.0\n")
    one = build_layer(BuildRequest("a", path, HOST, offline), tmp_path / "one")
    two = build_layer(BuildRequest("a", path, HOST, offline), tmp_path / "two")
    assert one.archive.sha256 == two.archive.sha256


def test_kept_globs_survive_slimming(tmp_path: Path, offline: Sources, requirements: Write) -> None:
    request = BuildRequest("deps", requirements("tiny==1.0\n"), HOST, offline, keep=("tiny/docs",))
    names = _names(build_layer(request, tmp_path / "cache").archive.path)
    assert "python/tiny/docs/guide.md" in names


def test_precompile_ships_bytecode_for_the_target_only(
    tmp_path: Path, offline: Sources, requirements: Write
) -> None:
    interpreter = find_interpreter(HOST.python_version)
    assert interpreter is not None
    request = BuildRequest("deps", requirements("tiny==1.0\n"), HOST, offline, precompile=True)
    result = build_layer(request, tmp_path / "cache", interpreter=interpreter)
    pyc = [n for n in _names(result.archive.path) if n.endswith(".pyc")]
    assert pyc
    assert all(HOST.cache_tag in n for n in pyc)
    assert smoke_test(result.site, list(result.packages), HOST, interpreter).passed is True


def test_precompile_without_an_interpreter_is_refused(
    tmp_path: Path, offline: Sources, requirements: Write
) -> None:
    request = BuildRequest("deps", requirements("tiny==1.0\n"), HOST, offline, precompile=True)
    with pytest.raises(ValidationError, match="interpreter"):
        build_layer(request, tmp_path / "cache", interpreter=None)


def test_missing_requirements_file_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        build_layer(BuildRequest("x", tmp_path / "nope.txt", HOST), tmp_path / "cache")


def test_a_requirement_pip_cannot_read_is_bad_input(
    tmp_path: Path, offline: Sources, requirements: Write
) -> None:
    request = BuildRequest("x", requirements("tiny=>1.0\n"), HOST, offline)
    with pytest.raises(ValidationError, match="cannot read the requirement"):
        build_layer(request, tmp_path / "cache")


def test_scratch_folders_of_killed_builds_are_swept(tmp_path: Path) -> None:
    from skybridge.apps.layers.build import sweep_scratch

    old, young, other = tmp_path / "build-abc", tmp_path / "build-def", tmp_path / "k123"
    for folder in (old, young, other):
        (folder / "python").mkdir(parents=True)
    os.utime(old, (0, 0))
    os.utime(other, (0, 0))
    assert sweep_scratch(tmp_path) == [old]
    assert young.is_dir()  # maybe a build under way
    assert other.is_dir()  # a finished build: not scratch
