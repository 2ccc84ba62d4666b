"""local:// secret store: the contract, plus key handling, tampering, expiry and processes."""

from __future__ import annotations

import base64
import errno
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from skybridge.backends import secrets as secrets_family
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.backends.secrets.local_keys import KEY_ENV, load_key
from skybridge.core.clock import ManualClock
from skybridge.core.errors import (
    ConfigError,
    NotFound,
    TerminalError,
    ValidationError,
)
from skybridge.core.secret import Secret
from skybridge.testing.contracts.secrets import SecretsContract


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


class TestLocal(SecretsContract):
    @pytest.fixture
    def secrets(self, tmp_path: Path) -> Iterator[LocalSecretStore]:
        with LocalSecretStore(tmp_path / "store") as store:
            yield store


def test_every_builtin_scheme_is_registered() -> None:
    assert {"local", "aws-sm", "oci-vault"} <= set(secrets_family.registry.schemes())


def test_connect_by_url_creates_private_key_file(tmp_path: Path) -> None:
    with secrets_family.connect(f"local://{tmp_path}/s?max_value_size=100") as store:
        assert isinstance(store, LocalSecretStore)
        assert store.max_value_size == 100
        store.create("a", Secret("v"))
    key = tmp_path / "s" / "key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "s" / "secrets.db").stat().st_mode & 0o077 == 0


def test_stores_opened_at_once_on_a_new_folder_share_one_key(tmp_path: Path) -> None:
    """Processes started together on a fresh data folder (the service and its workers): each
    either makes the key file or reads the whole key another made, never a file made and not
    yet written (1 in 10 of two racing opens were refused for an empty key before)."""
    for round_ in range(40):
        key_file = tmp_path / str(round_) / "key"
        start = threading.Barrier(4)

        def open_key(key_file: Path = key_file, start: threading.Barrier = start) -> bytes:
            start.wait()
            return load_key(key_file)

        with ThreadPoolExecutor(4) as pool:
            keys = list(pool.map(lambda _: open_key(), range(4)))
        assert len(set(keys)) == 1
        assert [p.name for p in key_file.parent.iterdir()] == ["key"]  # no temporary left


def test_a_file_system_without_hard_links_still_gets_one_shared_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*_: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")  # vfat, some shares

    monkeypatch.setattr(os, "link", no_links)
    key_file = tmp_path / "store" / "key"
    start = threading.Barrier(4)

    def open_key(_: int) -> bytes:
        start.wait()
        return load_key(key_file)

    with ThreadPoolExecutor(4) as pool:
        keys = list(pool.map(open_key, range(4)))
    assert len(set(keys)) == 1
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["key"]


def test_a_key_file_is_never_left_empty_by_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "store" / "key"

    def crash(*_: object) -> None:
        raise KeyboardInterrupt  # the process ends between writing the key and naming it

    monkeypatch.setattr(os, "link", crash)
    with pytest.raises(KeyboardInterrupt):
        load_key(key_file)
    monkeypatch.undo()
    assert not key_file.exists()
    with LocalSecretStore(key_file.parent) as store:  # opens, with a new key
        store.create("a", Secret("v"))
        assert store.get_value("a").value.reveal() == "v"


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    LocalSecretStore(tmp_path).close()
    (tmp_path / "key").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        LocalSecretStore(tmp_path)
    assert str(tmp_path / "key") in str(caught.value)


def test_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, base64.urlsafe_b64encode(os.urandom(32)).decode())
    with LocalSecretStore(tmp_path) as store:
        store.create("a", Secret("v"))
        assert store.get_value("a").value.reveal() == "v"
    assert not (tmp_path / "key").exists()
    monkeypatch.setenv(KEY_ENV, "too-short")
    with pytest.raises(ConfigError, match=KEY_ENV):
        LocalSecretStore(tmp_path)


def test_wrong_key_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalSecretStore(tmp_path) as store:
        store.create("a", Secret("v"))
    monkeypatch.setenv(KEY_ENV, base64.urlsafe_b64encode(os.urandom(32)).decode())
    with LocalSecretStore(tmp_path) as store, pytest.raises(TerminalError, match="'a'"):
        store.get_value("a")


@pytest.mark.parametrize("how", ["flip", "swap"])
def test_tampered_ciphertext_is_terminal_and_names_the_secret(tmp_path: Path, how: str) -> None:
    value = "TAMPER-CANARY-0123456789"
    with LocalSecretStore(tmp_path) as store:
        store.create("victim", Secret(value))
        store.create("other", Secret("other value"))
    db = sqlite3.connect(tmp_path / "secrets.db")
    with db:
        if how == "flip":
            blob = bytearray(db.execute("SELECT blob FROM versions").fetchone()[0])
            blob[-1] ^= 1
            db.execute("UPDATE versions SET blob = ? WHERE rowid = 1", (bytes(blob),))
        else:  # move the other secret's ciphertext into this row
            db.execute("UPDATE versions SET blob = (SELECT blob FROM versions WHERE rowid = 2)")
    db.close()
    with LocalSecretStore(tmp_path) as store, pytest.raises(TerminalError) as caught:
        store.get_value("victim")
    assert "victim" in str(caught.value)
    assert value not in str(caught.value)
    assert caught.value.__cause__ is None


def test_values_are_encrypted_at_rest(tmp_path: Path) -> None:
    with LocalSecretStore(tmp_path) as store:
        store.create("a", Secret("PLAINTEXT-NEEDLE-42"))
    assert b"PLAINTEXT-NEEDLE-42" not in (tmp_path / "secrets.db").read_bytes()


def test_deletion_and_version_deletion_expire_with_the_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    with LocalSecretStore(tmp_path, clock=clock) as store:
        first = store.create("a", Secret("1")).version_id
        for value in "234":
            store.put_value("a", Secret(value))
        store.schedule_version_deletion("a", first)
        clock.advance(2 * 86400)
        assert first not in {v.version_id for v in store.list_versions("a")}
        store.delete("a", recovery_days=7)
        clock.advance(8 * 86400)
        with pytest.raises(NotFound):
            store.describe("a")
        store.create("a", Secret("reused"))  # the name is free again


def test_concurrent_processes_keep_every_version(tmp_path: Path) -> None:
    LocalSecretStore(tmp_path).close()
    with LocalSecretStore(tmp_path) as store:
        store.create("shared", Secret("0"))
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from skybridge.backends.secrets.local import LocalSecretStore\n"
        "from skybridge.core.secret import Secret\n"
        "with LocalSecretStore(Path(sys.argv[1])) as s:\n"
        "    for i in range(15):\n"
        "        s.put_value('shared', Secret(f'{sys.argv[2]}-{i}'))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), tag]) for tag in "ab"]
    assert [p.wait(60) for p in procs] == [0, 0]
    with LocalSecretStore(tmp_path) as store:
        versions = store.list_versions("shared")
        assert len(versions) == 31
        assert sum(v.is_current for v in versions) == 1
        assert sum("previous" in v.stages for v in versions) == 1


def _plant_row(db_path: Path, name: str) -> None:
    """Write a secret row the way a store from before the id rule could hold it."""
    db = sqlite3.connect(db_path)
    with db:
        db.execute(
            "INSERT INTO secrets (name, secret_id, metadata, created, changed)"
            " VALUES (?, ?, '{}', 0, 0)",
            (name, "lsec-" + "0" * 32),
        )
    db.close()


def test_a_row_named_with_an_id_does_not_shadow_that_secret(tmp_path: Path) -> None:
    with LocalSecretStore(tmp_path) as store:
        victim = store.create("victim", Secret("victim value"))
        victim_id = victim.secret.secret_id
    _plant_row(tmp_path / "secrets.db", victim_id)  # an impostor named with the victim's id
    with LocalSecretStore(tmp_path) as store:
        assert store.get_value(victim_id).value.reveal() == "victim value"
        assert store.describe(victim_id).name == "victim"
        store.delete(victim_id, force=True)
        with pytest.raises(NotFound):
            store.get_value("victim")
        impostor = store.describe("lsec-" + "0" * 32)  # reachable through its own id
        assert impostor.name == victim_id


@pytest.mark.parametrize(
    "name",
    ["lsec-" + "a" * 32, "lsec-0123456789abcdef0123456789abcdef"],
)
def test_names_of_the_id_shape_are_refused_with_the_rule(tmp_path: Path, name: str) -> None:
    with LocalSecretStore(tmp_path) as store, pytest.raises(ValidationError) as caught:
        store.create(name, Secret("v"))
    assert "lsec-' followed by 32 hex digits" in str(caught.value)


@pytest.mark.parametrize(
    "name", ["lsec-short", "lsec-" + "A" * 32, "lsec-" + "a" * 33, "my-lsec-" + "a" * 32]
)
def test_names_near_the_id_shape_are_names(tmp_path: Path, name: str) -> None:
    with LocalSecretStore(tmp_path) as store:
        created = store.create(name, Secret("v"))
        assert not store.is_secret_id(name)
        assert store.get_value(name).secret == created.secret


def _store_files(folder: Path) -> dict[str, tuple[int, int, int]]:
    found = {p.name: p.stat() for p in [folder, *folder.iterdir()]}
    return {name: (st.st_mtime_ns, st.st_size, st.st_mode) for name, st in found.items()}


def test_a_missing_key_file_of_a_store_with_sealed_values_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with LocalSecretStore(folder) as store:
        store.create("a", Secret("CANARY-value-1c9e"))
    (folder / "key").unlink()
    before = _store_files(folder)
    with pytest.raises(ConfigError) as refused:
        LocalSecretStore(folder)
    message = str(refused.value)
    assert f"key file {folder / 'key'} is missing" in message
    assert "restore" in message
    assert KEY_ENV in message
    assert "CANARY" not in message
    # Nothing written: no new key to seal later writes with, the database untouched.
    assert not (folder / "key").exists()
    assert _store_files(folder) == before


def test_a_store_refused_for_its_missing_key_opens_with_the_key_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "store"
    with LocalSecretStore(folder) as store:
        store.create("a", Secret("v1"))
    saved = (folder / "key").read_text()
    (folder / "key").unlink()
    with pytest.raises(ConfigError):
        LocalSecretStore(folder)
    monkeypatch.setenv(KEY_ENV, saved.strip())  # the key through the environment
    with LocalSecretStore(folder) as store:
        assert store.get_value("a").value.reveal() == "v1"
    assert not (folder / "key").exists()
    monkeypatch.delenv(KEY_ENV)
    (folder / "key").write_text(saved)  # or the key file from a backup
    (folder / "key").chmod(0o600)
    with LocalSecretStore(folder) as store:
        assert store.get_value("a").value.reveal() == "v1"


def test_only_a_store_with_no_sealed_value_gets_a_new_key(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with LocalSecretStore(folder):  # a database with its tables, and no value yet
        pass
    first = (folder / "key").read_text()
    (folder / "key").unlink()
    with LocalSecretStore(folder) as store:
        store.create("a", Secret("v1"))
    assert (folder / "key").read_text() != first
    assert (folder / "key").stat().st_mode & 0o777 == 0o600
    (folder / "key").unlink()
    with pytest.raises(ConfigError, match="holds 1 value"):
        LocalSecretStore(folder)


def _expire_unpurged(store: LocalSecretStore, clock: ManualClock) -> str:
    """A secret 'a' whose first version's deletion time has come while nothing purged it."""
    first = store.create("a", Secret("first-value")).version_id
    for value in ("2", "3"):
        store.put_value("a", Secret(value))
    store.schedule_version_deletion("a", first)
    store.create("gone", Secret("gone-value"))
    store.delete("gone", recovery_days=1)
    store._purge_expired = lambda: None  # type: ignore[method-assign]
    clock.advance(LocalSecretStore.version_deletion_days * 86400 + 1)
    return first


def test_reads_leave_out_what_is_past_its_deletion_time_before_any_purge(tmp_path: Path) -> None:
    clock = ManualClock()
    with LocalSecretStore(tmp_path, clock=clock) as store:
        first = _expire_unpurged(store, clock)
        with pytest.raises(NotFound):
            store.get_value("a", version_id=first)
        assert first not in {v.version_id for v in store.list_versions("a")}
        assert first not in {v.version_id for v in store.describe_many(["a"])["a"].versions}
        with pytest.raises(NotFound):
            store.describe("gone")
        assert store.describe_many(["gone", "a"]).keys() == {"a"}
        assert store.get_value("a").value.reveal() == "3"
    rows = sqlite3.connect(tmp_path / "secrets.db").execute("SELECT count(*) FROM versions")
    assert rows.fetchone()[0] == 4  # still in the file: only the reads' filters hid them


def test_reads_never_wait_for_the_write_lock(tmp_path: Path) -> None:
    """Reads take no write lock; a purge due on a read runs only if the lock is free at once
    (else it is left for later: reads leave expired rows out by time anyway)."""
    from skybridge.backends.secrets.local import PURGE_EVERY

    clock = ManualClock()
    with LocalSecretStore(tmp_path, clock=clock) as store:
        store.create("a", Secret("v"))  # a write purges
        store.create("gone", Secret("x"))
        store.delete("gone", force=True)
        writer = sqlite3.connect(tmp_path / "secrets.db", isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            assert store.get_value("a").value.reveal() == "v"
            assert store.describe("a").name == "a"
            assert list(store.describe_many(["a"])) == ["a"]
            assert [r.name for r in store.list()] == ["a"]
            clock.advance(PURGE_EVERY + 1)  # a purge is due: it cannot have the lock now
            started = time.monotonic()
            assert store.get_value("a").value.reveal() == "v"
            assert time.monotonic() - started < 1.0  # not the 30 s busy timeout
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        store.get_value("a")  # the lock is free: this read purges
        rows = sqlite3.connect(tmp_path / "secrets.db").execute("SELECT name FROM secrets")
        assert [name for (name,) in rows] == ["a"]


def test_a_purge_that_cannot_commit_while_another_process_reads_leaves_the_store_working(
    tmp_path: Path,
) -> None:
    """A read's purge takes the write lock and then cannot commit while another connection
    reads (a rollback-journal file): it is rolled back and left for later. It stayed open
    before, and every later call of that store failed "cannot start a transaction within a
    transaction" (seen as reconcile errors when a second process read the same store)."""
    from skybridge.backends.secrets.local import PURGE_EVERY

    clock = ManualClock()
    with LocalSecretStore(tmp_path, clock=clock) as store:
        store.create("a", Secret("v"))
        store.create("gone", Secret("x"))
        store.delete("gone", recovery_days=1)
        reader = sqlite3.connect(tmp_path / "secrets.db", isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM secrets").fetchall()  # another process reads
        try:
            clock.advance(86400 + PURGE_EVERY)  # "gone" is due, and so is a read's purge
            assert store.get_value("a").value.reveal() == "v"
            assert store.describe_many(["a", "gone"]).keys() == {"a"}
        finally:
            reader.execute("COMMIT")
            reader.close()
        store.put_value("a", Secret("v2"))  # writes go on, and purge
        assert store.get_value("a").value.reveal() == "v2"
    rows = sqlite3.connect(tmp_path / "secrets.db").execute("SELECT name FROM secrets")
    assert [name for (name,) in rows] == ["a"]


def test_purges_use_indexes_also_on_a_file_made_without_them(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "secrets.db")
    old.executescript(  # the layout before the indexes
        "CREATE TABLE secrets (name TEXT PRIMARY KEY, secret_id TEXT NOT NULL UNIQUE,"
        " description TEXT, metadata TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL,"
        " changed REAL NOT NULL, deletion_date REAL);"
        "CREATE TABLE versions (secret_id TEXT NOT NULL, version_id TEXT NOT NULL,"
        " seq INTEGER NOT NULL, is_binary INTEGER NOT NULL, blob BLOB NOT NULL,"
        " stages TEXT NOT NULL, created REAL NOT NULL, deletion_scheduled REAL,"
        " PRIMARY KEY (secret_id, version_id));"
    )
    old.close()
    (tmp_path / "secrets.db").chmod(0o600)
    with LocalSecretStore(tmp_path) as store:
        store.create("a", Secret("v"))
        for query in (
            "DELETE FROM versions WHERE deletion_scheduled <= 1",
            "DELETE FROM secrets WHERE deletion_date <= 1",
        ):
            plan = str([tuple(r) for r in store._db.execute(f"EXPLAIN QUERY PLAN {query}")])
            assert "USING INDEX" in plan, plan


def test_describe_many_is_a_few_queries_however_many_secrets(tmp_path: Path) -> None:
    with LocalSecretStore(tmp_path) as store:
        names = [f"s{i:03d}" for i in range(120)]
        for name in names:
            store.create(name, Secret(f"value-{name}"))
        by_id = store.describe("s007").ref.secret_id
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        got = store.describe_many([*names, by_id, "missing"])
        store._db.set_trace_callback(None)
        assert list(got) == [*names, by_id]
        assert got[by_id] == store.describe("s007")
        assert all(got[n] == store.describe(n) for n in names)
        assert len(statements) <= 8, statements
