"""Embedded stores stamp their schema version; a file of a newer version is refused by name."""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.costs.ledger import Ledger
from skybridge.backends import kv, streams, vectors
from skybridge.backends.compute import connect as connect_compute
from skybridge.backends.functions import connect as connect_functions
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.core.errors import ConfigError


def opened(value: Any) -> Any:
    close = getattr(value, "close", None)
    if close is not None:
        close()
    return value


STORES: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "kv": ("kv.db", lambda d: opened(kv.connect(f"sqlite:///{d}/kv.db"))),
    "vectors": ("vectors.db", lambda d: opened(vectors.connect(f"embedded://{d}"))),
    "streams": ("log.db", lambda d: opened(streams.connect(f"sqlite:///{d}/log.db"))),
    "compute": ("fleet.db", lambda d: connect_compute(f"embedded://{d}")),
    "functions": ("platform.db", lambda d: opened(connect_functions(f"embedded://{d}"))),
    "costs ledger": ("ledger.db", lambda d: Ledger(d).files()),
    "secrets": ("secrets.db", lambda d: opened(LocalSecretStore(d, key_file=key_file(d)))),
}
#: Each store's current schema version (1 unless listed).
VERSIONS = {"vectors": 3}


def key_file(folder: Path) -> Path:
    path = folder.parent / "key"
    if not path.exists():
        path.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return path


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (found,) = conn.execute("PRAGMA user_version").fetchone()
    return int(found)


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Callable[[], Any], int]:
    """One store's file, made by opening it once, how to open it again, and its version."""
    name, open_store = STORES[request.param]
    folder = tmp_path / "state"

    def reopen() -> Any:
        return open_store(folder)

    reopen()
    return folder / name, reopen, VERSIONS.get(request.param, 1)


def test_a_new_file_is_stamped_and_a_newer_one_refused(
    store: tuple[Path, Callable[[], Any], int],
) -> None:
    path, reopen, version = store
    assert user_version(path) == version
    reopen()  # opening again changes nothing
    assert user_version(path) == version
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 7")
    with pytest.raises(ConfigError, match="was written by a newer skybridge") as caught:
        reopen()
    assert str(path) in caught.value.message
    assert f"schema version 7; this version reads up to {version}" in caught.value.message


def test_a_file_from_before_versions_is_upgraded_and_stamped(
    store: tuple[Path, Callable[[], Any], int],
) -> None:
    path, reopen, version = store
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 0")
    reopen()
    assert user_version(path) == version


def test_the_vector_store_of_version_0_gets_its_count_column(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    store = vectors.connect(f"embedded://{folder}")
    store.close()
    with sqlite3.connect(folder / "vectors.db") as conn:
        conn.execute("ALTER TABLE collections DROP COLUMN count")
        conn.execute("PRAGMA user_version = 0")
    vectors.connect(f"embedded://{folder}").close()
    with sqlite3.connect(folder / "vectors.db") as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(collections)")}
    assert "count" in columns
    assert user_version(folder / "vectors.db") == VERSIONS["vectors"]
