"""The ``redis://`` key-value store against a real redis-server."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis as redis_py

from skybridge.backends.kv import connect, registry
from skybridge.backends.kv.redis import RedisStore
from skybridge.core.errors import TerminalError, TransientError
from skybridge.testing.contracts.kv import KVContract
from skybridge.testing.servers import free_port

pytestmark = pytest.mark.redis


class TestRedis(KVContract):
    @pytest.fixture
    def make_kv(self, redis_server: Any) -> Any:
        return lambda namespace, **options: connect(
            redis_server.url, namespace=namespace, **options
        )


@pytest.fixture
def raw(redis_server: Any) -> Any:
    client = redis_py.Redis.from_url(redis_server.url)
    yield client
    client.close()


def test_native_expiry_and_lazy_index_cleanup(redis_server: Any, raw: Any) -> None:
    with connect(redis_server.url, namespace="native-ttl") as kv:
        kv.put("short", b"v", ttl=0.05)
        kv.put("stays", b"v")
        data_key = b"skybridge:kv:{native-ttl}:d:short"
        assert 0 < raw.pttl(data_key) <= 50
        assert raw.pttl(b"skybridge:kv:{native-ttl}:d:stays") == -1
        time.sleep(0.12)
        assert raw.exists(data_key) == 0, "redis expired the hash itself"
        assert raw.zcard(b"skybridge:kv:{native-ttl}:i") == 2, "index entry is still there"
        assert list(kv.keys()) == ["stays"]
        assert raw.zrange(b"skybridge:kv:{native-ttl}:i", 0, -1) == [b"stays"]
        assert kv.put("short", b"again") == 1


def test_purge_expired_drops_stale_index_entries(redis_server: Any, raw: Any) -> None:
    with connect(redis_server.url, namespace="purge", page_size=2) as kv:
        kv.put_many({f"k{i}": b"" for i in range(5)}, ttl=0.05)
        kv.put("stays", b"")
        time.sleep(0.12)
        assert raw.zcard(b"skybridge:kv:{purge}:i") == 6
        assert kv.purge_expired() == 5
        assert raw.zrange(b"skybridge:kv:{purge}:i", 0, -1) == [b"stays"]
        assert kv.purge_expired() == 0


def test_glob_characters_are_stored_verbatim(redis_server: Any, raw: Any) -> None:
    with connect(redis_server.url, namespace="globs") as kv:
        kv.put("a*[?]", b"v")
        assert raw.hget(b"skybridge:kv:{globs}:d:a*[?]", "val") == b"v"
        assert raw.hget(b"skybridge:kv:{globs}:d:a*[?]", "ver") == b"1"


def test_skybridge_params_are_not_passed_to_redis(redis_server: Any) -> None:
    url = f"{redis_server.url}?namespace=params&page_size=3&socket_timeout=2"
    with connect(url) as kv:
        assert isinstance(kv, RedisStore)
        assert (kv.namespace, kv.page_size) == ("params", 3)
        assert kv.client.connection_pool.connection_kwargs["socket_timeout"] == 2.0
        kv.ping()


def test_injected_client_is_not_closed(redis_server: Any, raw: Any) -> None:
    with connect("redis://ignored", client=raw, namespace="injected") as kv:
        kv.put("k", b"v")
    assert raw.ping()


def test_writes_wait_for_a_connection_of_a_blocking_pool(redis_server: Any, raw: Any) -> None:
    pool = redis_py.BlockingConnectionPool(
        host="127.0.0.1", port=redis_server.port, max_connections=2, timeout=5
    )
    client = redis_py.Redis(connection_pool=pool)
    with connect("redis://ignored", client=client, namespace="blocking") as kv:
        kv.put("warm", b"v")
        raw.client_pause(400, all=False)  # writes wait on the server, holding their connections
        failures: list[Exception] = []

        def write(key: str) -> None:
            try:
                kv.put(key, b"v")
            except Exception as exc:  # collected for the assertion
                failures.append(exc)

        threads = [threading.Thread(target=write, args=(f"k{i}",)) for i in range(3)]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for thread in threads:
            thread.join()
        assert failures == [], "the third write waits for a connection like the client's"
        assert kv.get_many(["k0", "k1", "k2"]) == {"k0": b"v", "k1": b"v", "k2": b"v"}
    pool.close()


def test_close_closes_the_writers_pool(redis_server: Any, monkeypatch: Any) -> None:
    kv = connect(redis_server.url, namespace="closing")
    kv.put("k", b"v")
    closed: list[bool] = []
    writers = kv._writer.connection_pool  # type: ignore[attr-defined]
    close = writers.close

    def closing() -> None:
        closed.append(True)
        close()

    monkeypatch.setattr(writers, "close", closing)
    kv.close()
    assert closed == [True], "close() cancels the pool's maintenance timers, not only sockets"


def test_unreachable_server_is_a_transient_error() -> None:
    with connect(f"redis://127.0.0.1:{free_port()}/0") as kv:
        started = time.monotonic()
        with pytest.raises(TransientError, match="unreachable"):
            kv.get("k")
        with pytest.raises(TransientError):
            kv.ping()
    assert time.monotonic() - started < 10


def test_foreign_data_at_a_key_is_a_terminal_error(redis_server: Any, raw: Any) -> None:
    raw.set(b"skybridge:kv:{foreign}:d:k", b"not a hash")
    with (
        connect(redis_server.url, namespace="foreign") as kv,
        pytest.raises(TerminalError, match="WRONGTYPE"),
    ):
        kv.put("k", b"v")


def test_rediss_scheme_uses_tls(redis_server: Any) -> None:
    assert registry.resolve("rediss") is RedisStore
    url = redis_server.url.replace("redis://", "rediss://")
    url += "?socket_timeout=0.2&socket_connect_timeout=0.2"  # the handshake times out fast
    with connect(url) as kv:
        assert kv.client.connection_pool.connection_class is redis_py.SSLConnection
        with pytest.raises(TransientError):
            kv.ping()  # the test server speaks plain TCP, so the TLS handshake fails
