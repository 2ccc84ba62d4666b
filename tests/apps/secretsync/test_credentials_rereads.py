"""When a store opened with ``credentials_from`` reads its credentials again: on a refusal
that may mean they were rotated (an OCI 401, not a 413), at most once every
:data:`REREAD_AFTER_REFUSAL_S` per store, and without holding up the calls of other threads.

A fake cloud: a local store per key, refused as OCI refuses it (the errors are the OCI
translator's own), and a credentials secret read by a function that counts its reads and can
be held.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import oci
import pytest

from skybridge.apps.secretsync.credentialed_store import (
    REREAD_AFTER_REFUSAL_S,
    open_credentialed,
)
from skybridge.backends.secrets import SecretStore, SecretVersion
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.backends.secrets.oci_errors import translate
from skybridge.core.clock import ManualClock
from skybridge.core.errors import NotAuthenticated, PermissionDenied, SkybridgeError, TerminalError
from skybridge.core.secret import Secret


def oci_error(status: int, code: str) -> SkybridgeError:
    """The error an OCI store raises for a ``status`` answer to a read of ``db``."""
    answer = oci.exceptions.ServiceError(status, code, {}, f"{code} (from the fake cloud)")
    return translate(answer, operation="GetSecretBundleByName", secret="db")


class Cloud:
    """The keys the cloud trusts, the credentials secret, and the calls it refuses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.trusted = {"k1"}
        self.credentials: dict[str, Any] = {"key": "k1"}
        self.reads = 0
        #: Raised by every read of secret ``denied``, whatever the key.
        self.denied: Exception = oci_error(413, "PayloadTooLarge")
        #: When set, a read of the credentials waits for it.
        self.hold_reads: threading.Event | None = None
        self.reading = threading.Event()
        self.opened: list[KeyedStore] = []
        LocalSecretStore(root).upsert_value("db", Secret("v1"), version_id=str(uuid.uuid4()))

    def read(self) -> dict[str, Any]:
        self.reads += 1
        self.reading.set()
        if self.hold_reads is not None:
            assert self.hold_reads.wait(10), "a read of the credentials was held too long"
        return dict(self.credentials)

    def open(self, credentials: dict[str, Any]) -> SecretStore:
        store = KeyedStore(self, credentials["key"])
        self.opened.append(store)
        return store

    def rotate(self, key: str) -> None:
        """The new key stored in the credentials secret, the old one deleted."""
        self.credentials = {"key": key}
        self.trusted = {key}


class KeyedStore(LocalSecretStore):
    """The cloud's secrets as seen with ``key``."""

    def __init__(self, cloud: Cloud, key: str) -> None:
        super().__init__(cloud.root)
        self.cloud, self.key = cloud, key
        self.closed = False

    def _get_value(self, secret: str, version_id: str | None, stage: str | None) -> SecretVersion:
        if self.key not in self.cloud.trusted:
            raise oci_error(401, "NotAuthenticated")
        if secret == "denied":
            raise self.cloud.denied
        return super()._get_value(secret, version_id, stage)

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.fixture
def cloud(tmp_path: Path) -> Cloud:
    return Cloud(tmp_path)


def _open(cloud: Cloud, clock: ManualClock | None = None) -> SecretStore:
    store = open_credentialed(cloud.open, cloud.read, name="oci", clock=clock or ManualClock())
    cloud.reads = 0
    return store


def _refuse(store: SecretStore, times: int, error: type[Exception] = TerminalError) -> None:
    for _ in range(times):
        with pytest.raises(error):
            store.get_value("denied")


@pytest.mark.parametrize(
    "denied", [None, oci_error(403, "NotAllowed")], ids=["too-large", "not-allowed"]
)
def test_refusals_that_cannot_mean_rotated_credentials_do_not_read_them(
    cloud: Cloud, denied: Exception | None
) -> None:
    store = _open(cloud)
    if denied is not None:
        cloud.denied = denied
    _refuse(store, 20, type(denied) if denied is not None else TerminalError)  # 413 by default
    assert cloud.reads == 0
    store.close()


@pytest.mark.parametrize(
    "denied",
    [
        oci_error(401, "NotAuthenticated"),
        PermissionDenied("not allowed"),
        NotAuthenticated("aws-sm UnrecognizedClientException on 'db': bad token"),
    ],
    ids=["oci-401", "permission-denied", "aws-token"],
)
def test_refusals_that_may_mean_rotated_credentials_read_them_once_per_interval(
    cloud: Cloud, denied: Exception
) -> None:
    clock = ManualClock()
    store = _open(cloud, clock)
    cloud.denied = denied
    _refuse(store, 20, type(denied))
    assert cloud.reads == 1
    clock.advance(REREAD_AFTER_REFUSAL_S - 1)
    _refuse(store, 20, type(denied))
    assert cloud.reads == 1
    clock.advance(1)
    _refuse(store, 20, type(denied))
    assert cloud.reads == 2
    store.close()


def test_a_rotation_is_followed_on_the_first_refusal(cloud: Cloud) -> None:
    clock = ManualClock()
    store = _open(cloud, clock)
    assert store.get_value("db").value.reveal() == "v1"
    cloud.rotate("k2")
    assert store.get_value("db").value.reveal() == "v1"  # the 401, then the new key
    assert (cloud.reads, [s.key for s in cloud.opened]) == (1, ["k1", "k2"])
    cloud.rotate("k3")  # again, within the interval: the refusal is raised
    with pytest.raises(TerminalError, match="401"):
        store.get_value("db")
    clock.advance(REREAD_AFTER_REFUSAL_S)
    assert store.get_value("db").value.reveal() == "v1"
    assert cloud.reads == 2
    store.close()


def _call_in_thread(call: Any) -> threading.Thread:
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def test_calls_not_refused_do_not_wait_for_a_slow_read(cloud: Cloud) -> None:
    store = _open(cloud)
    cloud.denied = oci_error(401, "NotAuthenticated")
    cloud.hold_reads = threading.Event()
    refused = _call_in_thread(lambda: _refuse(store, 1, TerminalError))
    try:
        assert cloud.reading.wait(10)  # the refused thread is reading the credentials
        answered: list[str] = []
        other = _call_in_thread(lambda: answered.append(store.get_value("db").value.reveal()))
        other.join(5)
        assert answered == ["v1"], "a call not refused waited for the credentials to be read"
    finally:
        cloud.hold_reads.set()
        refused.join(10)
    assert cloud.reads == 1
    store.close()


def test_a_store_opened_by_a_read_that_ends_after_close_is_closed(cloud: Cloud) -> None:
    store = _open(cloud)
    cloud.rotate("k2")
    cloud.hold_reads = threading.Event()
    refused = _call_in_thread(lambda: _refuse(store, 1, TerminalError))
    assert cloud.reading.wait(10)
    store.close()
    cloud.hold_reads.set()
    refused.join(10)
    assert [(s.key, s.closed) for s in cloud.opened] == [("k1", True), ("k2", True)]
