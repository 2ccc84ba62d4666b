"""The ``redis://`` store when a reply is lost: a write is never run twice, a read is retried;
and when connecting fails: a write's connecting (nothing sent yet) is retried.

A proxy between the store and the real redis-server passes a command on and then closes the
connection instead of passing on its reply: what a reset, or a reply slower than the socket
timeout, looks like to the client. It can also hang up new connections at once (a server that
restarts, or is unreachable).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from skybridge.backends.kv import BatchWrite, KeyValueStore, connect
from skybridge.core.errors import TransientError

pytestmark = pytest.mark.redis


class ReplyLoser:
    """A TCP proxy to ``port`` on 127.0.0.1 that loses the reply to the next command
    containing :attr:`doomed` (its connection is closed once the command went through), and
    hangs up the next :attr:`refused` connections as soon as they are made."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.doomed: bytes | None = None
        self.refused = 0
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()
        self.hang_up_all()

    def hang_up_all(self) -> None:
        """Close every connection made so far (the clients find them closed)."""
        for sock in self.sockets:
            _hang_up(sock)
        self.sockets.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refused > 0:
                self.refused -= 1
                _hang_up(client)
                continue
            server = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, server]
            lost = threading.Event()
            threading.Thread(
                target=self._requests, args=(client, server, lost), daemon=True
            ).start()
            threading.Thread(target=self._replies, args=(server, client, lost), daemon=True).start()

    def _requests(
        self, client: socket.socket, server: socket.socket, lost: threading.Event
    ) -> None:
        try:
            while data := client.recv(65536):
                if self.doomed is not None and self.doomed in data:
                    self.doomed = None
                    lost.set()
                server.sendall(data)
        except OSError:
            pass

    def _replies(self, server: socket.socket, client: socket.socket, lost: threading.Event) -> None:
        try:
            while data := server.recv(65536):
                if lost.is_set():
                    break
                client.sendall(data)
        except OSError:
            pass
        for sock in (server, client):
            _hang_up(sock)


def _hang_up(sock: socket.socket) -> None:
    """Close ``sock`` so that its peer sees the end at once (and a thread reading it wakes)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def proxy(redis_server: Any) -> Iterator[ReplyLoser]:
    loser = ReplyLoser(redis_server.port)
    yield loser
    loser.close()


@pytest.fixture
def kv(proxy: ReplyLoser) -> Iterator[KeyValueStore]:
    url = f"redis://127.0.0.1:{proxy.port}/0"
    with connect(url, namespace=f"lost-{uuid.uuid4().hex[:8]}") as store:
        store.put("k", b"old")  # also loads the scripts, so the next EVALSHA runs one
        store.delete("absent")
        store.write_batch([BatchWrite("absent", None)])
        yield store


WRITES: dict[str, Callable[[KeyValueStore], object]] = {
    "compare_and_set": lambda kv: kv.compare_and_set("k", b"new", 1),
    "create": lambda kv: kv.compare_and_set("fresh", b"new", 0),
    "guarded delete": lambda kv: kv.delete("k", expected_version=1),
    "write_batch": lambda kv: kv.write_batch([BatchWrite("k", b"new", 1)]),
}
AFTER = {
    "compare_and_set": ("k", b"new", 2),
    "create": ("fresh", b"new", 1),
    "guarded delete": ("k", None, None),
    "write_batch": ("k", b"new", 2),
}


@pytest.mark.parametrize("operation", WRITES)
def test_a_write_whose_reply_is_lost_is_applied_once_and_unknown(
    proxy: ReplyLoser, kv: KeyValueStore, operation: str
) -> None:
    proxy.doomed = b"EVALSHA"
    with pytest.raises(TransientError, match="may or may not have been applied"):
        WRITES[operation](kv)  # sent once: a second run would find its own write (Conflict)
    key, value, version = AFTER[operation]
    item = kv.get_item(key)
    assert ((item.value, item.version) if item else (None, None)) == (value, version)
    assert kv.put(key, b"later") == (version or 0) + 1  # the writes connect again


def test_a_read_whose_reply_is_lost_is_sent_again(proxy: ReplyLoser, kv: KeyValueStore) -> None:
    proxy.doomed = b"HMGET"
    item = kv.get_item("k")
    assert proxy.doomed is None, "the reply was lost"
    assert item is not None
    assert (item.value, item.version) == (b"old", 1)


def test_a_write_connects_again_when_connecting_fails(proxy: ReplyLoser, kv: KeyValueStore) -> None:
    proxy.hang_up_all()
    proxy.refused = 1  # the write's first connection is closed before anything is sent on it
    assert kv.compare_and_set("k", b"new", 1) == 2
    assert proxy.refused == 0, "a connection was refused"
    item = kv.get_item("k")
    assert item is not None
    assert (item.value, item.version) == (b"new", 2)


def test_a_write_that_cannot_connect_was_not_sent(proxy: ReplyLoser, kv: KeyValueStore) -> None:
    proxy.hang_up_all()
    proxy.refused = 1000
    with pytest.raises(TransientError, match="the write was not sent") as info:
        kv.compare_and_set("k", b"new", 1)
    assert "may or may not" not in str(info.value)
    proxy.refused = 0
    item = kv.get_item("k")
    assert item is not None
    assert (item.value, item.version) == (b"old", 1)
