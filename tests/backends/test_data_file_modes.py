"""Every embedded store keeps its files private: 0600 files (WAL and SHM too) in 0700 folders."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from skybridge.backends import compute, kv, objects, secrets, streams
from skybridge.backends.sql import create_sql_engine
from skybridge.core.secret import Secret

Writer = Callable[[Path], Path]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default, which makes 0644 files in 0755 folders
    yield
    os.umask(old)


def write_sql(folder: Path) -> Path:
    engine = create_sql_engine(f"sqlite:///{folder}/skybridge.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (v int)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert (folder / "skybridge.db-wal").exists()  # checked while the connection is open
    check_modes(folder)
    engine.dispose()
    return folder / "skybridge.db"


def write_kv(folder: Path) -> Path:
    with kv.connect(f"sqlite:///{folder}/kv.db", namespace="n") as store:
        store.put("k", b"v")
        check_modes(folder)
    return folder / "kv.db"


def write_streams(folder: Path) -> Path:
    with streams.connect(f"sqlite:///{folder}/streams.db") as log:
        log.create_topic("t", partitions=1)
        log.produce("t", [b"v"])
        check_modes(folder)
    return folder / "streams.db"


def write_secrets(folder: Path) -> Path:
    with secrets.connect(f"local://{folder}") as store:
        store.upsert_value("s", Secret("v"))
    return folder / "secrets.db"


def write_objects(folder: Path) -> Path:
    with objects.connect(f"file://{folder}?fsync=false") as store:
        store.put("a/b.csv", b"x,y")
    return folder / "a" / "b.csv"


def write_compute(folder: Path) -> Path:
    with compute.connect(f"embedded://{folder}") as fleet:
        fleet.launch("web", "small", {"env": "dev"})
    return folder / "fleet.db"


WRITERS = [write_sql, write_kv, write_streams, write_secrets, write_objects, write_compute]


def check_modes(folder: Path) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert mode(folder) == 0o700


@pytest.mark.parametrize("write", WRITERS, ids=lambda w: w.__name__)
def test_new_store_files_are_private(tmp_path: Path, write: Writer) -> None:
    folder = tmp_path / "fresh" / ".skybridge"
    write(folder)
    check_modes(folder)
    assert mode(folder.parent) == 0o700  # folders it had to create too


@pytest.mark.parametrize("write", WRITERS[:4], ids=lambda w: w.__name__)
def test_existing_loose_files_are_tightened(tmp_path: Path, write: Writer) -> None:
    folder = tmp_path / ".skybridge"
    data = write(folder)
    for path in folder.iterdir():
        if path.name != "key":  # a key others could read is refused, not tightened
            path.chmod(0o644)
    for suffix in ("-wal", "-shm"):  # as an older version left them
        side = data.with_name(data.name + suffix)
        side.touch()
        side.chmod(0o644)
    write(folder)
    assert {p.name: mode(p) for p in folder.iterdir()} == {p.name: 0o600 for p in folder.iterdir()}


def test_an_open_secret_store_folder_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o755)
    with capture_logs() as logs:
        write_secrets(folder)
    assert mode(folder) == 0o700
    assert [e["path"] for e in logs] == [str(folder)]


def test_an_open_objects_root_is_warned_about(tmp_path: Path) -> None:
    root = tmp_path / "shared-objects"
    root.mkdir(mode=0o755)
    with capture_logs() as logs:
        object_file = write_objects(root)
    assert mode(root) == 0o755  # it may be a folder others are meant to read
    assert mode(object_file) == 0o600
    assert logs[0]["hint"] == f"chmod 700 {root}"


def _engine_logs(db: Path, data_dir: Path | None = None) -> list[dict[str, object]]:
    with capture_logs() as logs:
        create_sql_engine(f"sqlite:///{db}", data_dir=data_dir).dispose()
    return logs


def test_a_database_url_in_an_open_project_folder_draws_no_warning(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir(mode=0o755)
    assert _engine_logs(project / "sla.db", data_dir=tmp_path / "project" / ".skybridge") == []
    assert _engine_logs(project / "other.db") == []  # no data_dir known: a URL names a file
    assert mode(project) == 0o755
    assert mode(project / "sla.db") == 0o600


@pytest.mark.parametrize("where", [".", "nested"])
def test_a_database_in_an_open_data_dir_is_warned_about(tmp_path: Path, where: str) -> None:
    data_dir = tmp_path / ".skybridge"
    folder = data_dir / where
    folder.mkdir(mode=0o755, parents=True)
    logs = _engine_logs(folder / "skybridge.db", data_dir=data_dir)
    assert [(e["event"], e["hint"]) for e in logs] == [
        ("data path is open to other users", f"chmod 700 {folder}")
    ]
