"""A damaged embedded database file is named, with what to do, instead of a driver traceback."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.costs.ledger import Ledger
from skybridge.backends import streams, vectors
from skybridge.backends.compute import connect as connect_compute
from skybridge.backends.functions import connect as connect_functions
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.backends.sql import create_sql_engine
from skybridge.core.errors import TerminalError


def key_file(folder: Path) -> Path:
    """A key file beside the store (its key is there; only the database is damaged)."""
    path = folder.parent / "key"
    path.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
    path.chmod(0o600)
    return path


def damage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(os.urandom(16384))
    path.chmod(0o600)
    return path


STORES: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "vectors": ("vectors.db", lambda d: vectors.connect(f"embedded://{d}")),
    "streams": ("log.db", lambda d: streams.connect(f"sqlite:///{d}/log.db")),
    "compute": ("fleet.db", lambda d: connect_compute(f"embedded://{d}")),
    "functions": ("platform.db", lambda d: connect_functions(f"embedded://{d}")),
    "costs ledger": ("ledger.db", lambda d: Ledger(d).files()),
    "sql": ("app.db", lambda d: create_sql_engine(f"sqlite:///{d}/app.db").connect()),
    "secrets": ("secrets.db", lambda d: LocalSecretStore(d, key_file=key_file(d))),
}


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_damaged_file_is_named_with_what_to_do(tmp_path: Path, store: str) -> None:
    name, open_store = STORES[store]
    folder = tmp_path / "state"
    bad = damage(folder / name)
    with pytest.raises(TerminalError) as caught:
        open_store(folder)
    assert str(bad) in caught.value.message
    assert "is damaged (file is not a database)" in caught.value.message
    assert "restore the file from a backup" in (caught.value.hint or "")
