"""A mapping's lease that this very process left behind when a kv call failed (its release, or
a take whose write landed though the store answered an error) is taken over by this process at
once; a lease this process holds inside a lock body still blocks its other writers, and so does
one of another process with the same holder name (restored from the same VM snapshot)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.secretsync import SecretSync, state, table_from_dict
from skybridge.apps.secretsync.state import LOCK_TTL_S, StateStore
from skybridge.backends.kv.base import Value
from skybridge.backends.kv.sqlite import SQLiteStore
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.core.errors import TransientError
from skybridge.core.secret import Secret
from skybridge.runtime.holders import this_process

from .conftest import FAST_RETRY

LOCK_KEY = "secretsync/lock/m"


class FlakyLocks(SQLiteStore):
    """An in-memory SQLite kv whose next take of a mapping lease writes it and then fails
    (``take_fails``), or whose next release fails (``release_fails``)."""

    def __init__(self) -> None:
        super().__init__()
        self.take_fails = False
        self.release_fails = False

    def compare_and_set(
        self, key: str, value: Value, expected_version: int, *, ttl: float | None = None
    ) -> int:
        version = super().compare_and_set(key, value, expected_version, ttl=ttl)
        if self.take_fails and key.startswith("secretsync/lock/"):
            self.take_fails = False
            raise TransientError("the kv store timed out answering")
        return version

    def delete(self, key: str, *, expected_version: int | None = None) -> bool:
        if self.release_fails and key.startswith("secretsync/lock/"):
            self.release_fails = False
            raise TransientError("sqlite kv database is busy: database is locked")
        return super().delete(key, expected_version=expected_version)


def test_a_lease_whose_release_failed_is_taken_at_once_by_this_process() -> None:
    kv = FlakyLocks()
    state = StateStore(kv, lock_wait=0.0)
    kv.release_fails = True
    with state.lock("m"):  # the body's outcome stands: the failed release is logged
        pass
    assert this_process() in kv.get(LOCK_KEY).decode()  # type: ignore[union-attr]
    with StateStore(kv, lock_wait=0.0).lock("m"):  # not "being synced by another worker"
        pass
    assert kv.get(LOCK_KEY) is None


def test_a_take_that_wrote_and_then_failed_does_not_block_this_process() -> None:
    kv = FlakyLocks()
    state = StateStore(kv, lock_wait=0.0)
    kv.take_fails = True
    with pytest.raises(TransientError, match="timed out"), state.lock("m"):
        pytest.fail("entered a lock whose take failed")
    assert kv.get(LOCK_KEY) is not None  # the take landed
    with state.lock("m"):
        pass


def test_a_lease_this_process_holds_in_a_body_still_blocks_its_other_writers() -> None:
    kv = FlakyLocks()
    state, other = StateStore(kv, lock_wait=0.0), StateStore(kv, lock_wait=0.0)
    refused: list[BaseException] = []

    def another_thread() -> None:
        try:
            with state.lock("m"):
                refused.append(AssertionError("two writers held mapping m's lease"))
        except TransientError as exc:
            refused.append(exc)

    with state.lock("m"):
        with (
            pytest.raises(TransientError, match="being synced by another worker"),
            other.lock("m"),
        ):
            pytest.fail("two writers held mapping m's lease")
        thread = threading.Thread(target=another_thread)
        thread.start()
        thread.join(10)
    assert [type(exc) for exc in refused] == [TransientError]


def test_a_lease_of_another_process_with_this_holder_name_is_waited_for() -> None:
    """A process restored from the same VM snapshot has this one's holder name (host, boot,
    pid, start time) but took its lease under a token this process never drew."""
    kv = FlakyLocks()
    theirs = json.dumps({"holder": this_process(), "token": uuid.uuid4().hex}).encode()
    kv.compare_and_set(LOCK_KEY, theirs, 0, ttl=LOCK_TTL_S)
    with (
        pytest.raises(TransientError, match="being synced by another worker"),
        StateStore(kv, lock_wait=0.0).lock("m"),
    ):
        pytest.fail("took over a live lease of another process")
    assert kv.get(LOCK_KEY) == theirs


def _lock_in_forked_child() -> int:
    """In a forked child: 0 if it takes mapping m's lease, leaves it (a failed release) and
    takes it over at once; else 1 (2: an error)."""
    try:
        kv = FlakyLocks()
        locks = StateStore(kv, lock_wait=0.0)
        kv.release_fails = True
        with locks.lock("m"):
            pass
        with locks.lock("m"):
            pass
        return 0 if kv.get(LOCK_KEY) is None else 1
    except BaseException:
        return 2


def test_a_forked_child_locks_though_a_parent_thread_held_the_left_leases_lock() -> None:
    held, fork_done = threading.Event(), threading.Event()

    def hold() -> None:
        with state._LEFT_LOCK:
            held.set()
            fork_done.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        with warnings.catch_warnings():  # forking a multi-threaded process is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os._exit(_lock_in_forked_child())
    finally:
        fork_done.set()
        holder.join(10)
    deadline = time.monotonic() + 10
    while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if waited[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung taking a lease")
    assert os.waitstatus_to_exitcode(waited[1]) == 0


def test_a_sync_after_a_take_that_wrote_and_failed_is_not_refused_as_busy(
    tmp_path: Path,
) -> None:
    """The engine retries the failed take: the lease its first try left is this process's."""
    kv = FlakyLocks()
    source, target = LocalSecretStore(tmp_path / "src"), LocalSecretStore(tmp_path / "dst")
    table: dict[str, Any] = {
        "owner": "test-owner",
        "backends": {"src": "local://src", "dst": "local://dst"},
        "mappings": [
            {
                "name": "m",
                "source": {"backend": "src", "secret": "app/m"},
                "target": {"backend": "dst", "secret": "m-t"},
            }
        ],
    }
    sync = SecretSync(
        table_from_dict(table),
        state=kv,
        stores={"src": source, "dst": target},
        retry=FAST_RETRY,
        actor="pytest",
        lock_wait=0.0,
    )
    source.upsert_value("app/m", Secret("v1"), version_id=str(uuid.uuid4()))
    kv.take_fails = True
    assert sync.sync_mapping("m").action == "created"
    assert target.get_value("m-t").value.reveal() == "v1"
    sync.close()
    source.close()
    target.close()
