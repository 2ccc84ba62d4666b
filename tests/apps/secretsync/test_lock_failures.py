"""A mapping's lease that this very process left behind when a kv call failed (its release, or
a take whose write landed though the store answered an error) is taken over by this process at
once; a lease this process holds inside a lock body still blocks its other writers."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.secretsync import SecretSync, table_from_dict
from skybridge.apps.secretsync.state import StateStore
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
