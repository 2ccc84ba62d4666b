"""``redis://`` and ``rediss://`` key-value store (redis-py).

Layout per namespace ``ns`` (the ``{ns}`` hash tag keeps a namespace in one cluster slot):

* ``skybridge:kv:{ns}:d:<key>``: a hash with ``val``, ``ver`` and, when the item expires,
  ``exp`` (seconds since the epoch by the store's clock). Redis expires it natively (PEXPIRE).
* ``skybridge:kv:{ns}:i``: a sorted set of all keys at score 0, so scans page through keys in
  byte order with ``ZRANGEBYLEX`` (no ``SCAN MATCH`` globbing, so ``*?[]`` in keys are harmless).
  Entries whose hash expired natively are removed lazily by the next scan that meets them, or
  by ``purge_expired()`` (run it now and then for namespaces that are written but never scanned).

Writes, CAS and deletes run as Lua scripts, so each is atomic on the server; ``write_batch`` is
one script that checks every guard before it writes anything (``atomic_batch``).

Reads are sent again when their connection fails (the client's ``retry``). Writes go through a
second connection pool on the same server, of the client's pool class and settings, that sends
each command once: a write whose reply is lost (a reset connection, a reply slower than
``socket_timeout``) may have run, and running it again would make a CAS that succeeded report
a conflict. Such a write raises :class:`~skybridge.core.errors.TransientError` saying its
outcome is unknown; the next command connects anew. Connecting, before anything of the write
is sent, is retried with the client's ``retry``; a write that gets no connection raises
``TransientError`` saying it was not sent.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self
from urllib.parse import urlencode

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from skybridge.backends.kv.base import BatchWrite, Item, KeyValueStore, ScanPage
from skybridge.core.errors import ConfigError, Conflict, TerminalError, TransientError
from skybridge.core.urls import BackendURL, mask_url

_PUT = """
local cur = redis.call('HMGET', KEYS[1], 'ver', 'exp')
local ver, exp = tonumber(cur[1]), tonumber(cur[2])
if ver and exp and exp <= tonumber(ARGV[3]) then ver = nil end
if ARGV[6] ~= '' then
  local expected = tonumber(ARGV[6])
  if expected == 0 then
    if ver then return -1 end
  elseif ver ~= expected then return -1 end
end
local new = (ver or 0) + 1
redis.call('DEL', KEYS[1])
if ARGV[4] == '' then
  redis.call('HSET', KEYS[1], 'val', ARGV[2], 'ver', new)
else
  redis.call('HSET', KEYS[1], 'val', ARGV[2], 'ver', new, 'exp', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return new
"""

_DELETE = """
local cur = redis.call('HMGET', KEYS[1], 'ver', 'exp')
local ver, exp = tonumber(cur[1]), tonumber(cur[2])
local live = ver ~= nil and (exp == nil or exp > tonumber(ARGV[2]))
if ARGV[3] ~= '' and (not live or ver ~= tonumber(ARGV[3])) then return -1 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if live then return 1 end
return 0
"""

# KEYS: index, then one data key per write. ARGV: now, then per write: key, value, expected
# ('' = unconditional), op ('p' put, 'd' delete). Every guard is checked before any write.
_BATCH = """
local now = tonumber(ARGV[1])
local vers = {}
for i = 2, #KEYS do
  local a = 2 + (i - 2) * 4
  local cur = redis.call('HMGET', KEYS[i], 'ver', 'exp')
  local ver, exp = tonumber(cur[1]), tonumber(cur[2])
  if ver and exp and exp <= now then ver = nil end
  if ARGV[a + 2] ~= '' then
    local expected = tonumber(ARGV[a + 2])
    if (expected == 0 and ver) or (expected ~= 0 and ver ~= expected) then
      return {-1, i - 1}
    end
  end
  vers[i] = ver or 0
end
local out = {}
for i = 2, #KEYS do
  local a = 2 + (i - 2) * 4
  redis.call('DEL', KEYS[i])
  if ARGV[a + 3] == 'd' then
    redis.call('ZREM', KEYS[1], ARGV[a])
    out[i - 1] = 0
  else
    redis.call('HSET', KEYS[i], 'val', ARGV[a + 1], 'ver', vers[i] + 1)
    redis.call('ZADD', KEYS[1], 0, ARGV[a])
    out[i - 1] = vers[i] + 1
  end
end
return out
"""

_SCAN = """
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
local out = {#members, members[#members] or '', 0}
for _, m in ipairs(members) do
  local h = redis.call('HMGET', ARGV[4] .. m, 'val', 'ver', 'exp')
  if h[2] then
    table.insert(out, m); table.insert(out, h[1]); table.insert(out, h[2])
    table.insert(out, h[3] or '')
  else
    out[3] = out[3] + redis.call('ZREM', KEYS[1], m)
  end
end
return out
"""

#: Parameters skybridge reads from the URL; the rest go to redis-py.
_OWN_PARAMS = ("namespace", "page_size", "max_value_size")


class RedisStore(KeyValueStore):
    """Key-value store on Redis (standalone; keys of a namespace share one cluster slot)."""

    url_credentials = True

    scheme = "redis"
    capabilities = KeyValueStore.capabilities | {"native_expiry", "atomic_batch"}
    value_size_limit = 512 * 1024 * 1024

    def __init__(self, client: redis.Redis, *, owns_client: bool = True, **common: Any) -> None:
        super().__init__(**common)
        self.client = client
        self._owns_client = owns_client
        self._writer = _sending_once(client)
        base = f"skybridge:kv:{{{self.namespace}}}"
        self._data_prefix = f"{base}:d:".encode()
        self._index = f"{base}:i".encode()
        self._put_script = self._writer.register_script(_PUT)
        self._delete_script = self._writer.register_script(_DELETE)
        self._scan_script = client.register_script(_SCAN)
        self._batch_script = self._writer.register_script(_BATCH)

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        common = cls.common_options(url, options)
        if "client" in options:
            return cls(options.pop("client"), owns_client=False, **common, **options)
        base, _, _ = url.raw.partition("?")
        query = urlencode({k: v for k, v in url.params.items() if k not in _OWN_PARAMS})
        settings: dict[str, Any] = {
            "socket_timeout": 5.0,
            "socket_connect_timeout": 5.0,
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            **options,
        }
        try:
            client = redis.Redis.from_url(f"{base}?{query}" if query else base, **settings)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bad redis URL {mask_url(url.raw)}: {exc}") from None
        return cls(client, **common)

    def _data_key(self, key: str) -> bytes:
        return self._data_prefix + key.encode()

    @contextmanager
    def _translate(self, *, writing: bool = False) -> Iterator[None]:
        try:
            yield
        except redis.exceptions.AuthenticationError as exc:
            raise ConfigError(f"redis refused the credentials: {exc}") from exc
        except _NotSent as exc:
            raise TransientError(f"redis unreachable, so the write was not sent: {exc}") from exc
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            if writing:
                raise TransientError(
                    f"redis unreachable during a write, which may or may not have been "
                    f"applied: {exc}",
                    hint="read the keys to see whether it was, before writing again",
                ) from exc
            raise TransientError(f"redis unreachable: {exc}") from exc
        except redis.exceptions.ReadOnlyError as exc:
            raise TransientError(f"redis is a read-only replica (failover?): {exc}") from exc
        except redis.exceptions.ResponseError as exc:
            if str(exc).startswith(("BUSY", "LOADING", "TRYAGAIN", "CLUSTERDOWN")):
                raise TransientError(f"redis is busy: {exc}") from exc
            raise TerminalError(f"redis refused the command: {exc}") from exc
        except redis.exceptions.RedisError as exc:
            raise TerminalError(f"redis failed: {exc}") from exc

    def ping(self) -> None:
        with self._translate():
            self.client.ping()

    def close(self) -> None:
        self._writer.connection_pool.close()  # also cancels its RESP3 maintenance timers
        if self._owns_client:
            self.client.close()

    # -- primitives -------------------------------------------------------------------------

    def _get_many(self, keys: list[str]) -> dict[str, Item]:
        with self._translate():
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(self._data_key(key), "val", "ver", "exp")
            replies = pipe.execute()
        found: dict[str, Item] = {}
        for key, (value, version, expires) in zip(keys, replies, strict=True):
            if version is not None:
                found[key] = _item(key, value, version, expires)
        return found

    def _put_args(
        self, key: str, value: bytes, expires_at: float | None, expected: int | None, now: float
    ) -> tuple[list[bytes], list[Any]]:
        ttl_ms = "" if expires_at is None else max(1, math.ceil((expires_at - now) * 1000))
        args = [
            key.encode(),
            value,
            repr(now),
            "" if expires_at is None else repr(expires_at),
            ttl_ms,
            "" if expected is None else expected,
        ]
        return [self._data_key(key), self._index], args

    def _put(
        self, key: str, value: bytes, *, expires_at: float | None, expected: int | None, now: float
    ) -> int | None:
        keys, args = self._put_args(key, value, expires_at, expected, now)
        with self._translate(writing=True):
            version = int(self._put_script(keys=keys, args=args))
        return None if version < 0 else version

    def _put_many(
        self, values: dict[str, bytes], *, expires_at: float | None, now: float
    ) -> dict[str, int]:
        with self._translate(writing=True):
            pipe = self._writer.pipeline(transaction=False)
            for key, value in values.items():
                keys, args = self._put_args(key, value, expires_at, None, now)
                self._put_script(keys=keys, args=args, client=pipe)
            versions = pipe.execute()
        return {key: int(v) for key, v in zip(values, versions, strict=True)}

    def _write_batch(self, writes: list[BatchWrite], *, now: float) -> dict[str, int]:
        keys: list[bytes] = [self._index]
        args: list[bytes | str | int] = [repr(now)]
        for write in writes:
            keys.append(self._data_key(write.key))
            expected = "" if write.expected is None else write.expected
            op = "d" if write.value is None else "p"
            args += [write.key.encode(), write.value or b"", expected, op]
        with self._translate(writing=True):
            reply = self._batch_script(keys=keys, args=args)
        if reply and int(reply[0]) < 0:
            key = writes[int(reply[1]) - 1].key
            raise Conflict(
                f"kv key {key!r} is not at its expected version (the batch wrote nothing)",
                hint="read the current items and retry with their versions",
            )
        return {w.key: int(v) for w, v in zip(writes, reply, strict=True)}

    def _delete(self, key: str, *, expected: int | None, now: float) -> bool | None:
        args: list[bytes | str | int] = [
            key.encode(),
            repr(now),
            "" if expected is None else expected,
        ]
        with self._translate(writing=True):
            outcome = int(self._delete_script(keys=[self._data_key(key), self._index], args=args))
        return None if outcome < 0 else outcome == 1

    def _delete_many(self, keys: list[str], *, now: float) -> None:
        with self._translate(writing=True):
            pipe = self._writer.pipeline(transaction=True)
            pipe.delete(*(self._data_key(k) for k in keys))
            pipe.zrem(self._index, *(k.encode() for k in keys))
            pipe.execute()

    def _scan(self, prefix: str, start_after: str | None, limit: int) -> ScanPage:
        return self._scan_and_clean(prefix, start_after, limit)[0]

    def purge_expired(self) -> int:
        """Redis expires the items; this drops their leftover entries from the scan index."""
        removed, cursor = 0, None
        while True:
            page, cleaned = self._scan_and_clean("", cursor, 1000)
            removed += cleaned
            if page.next_start_after is None:
                return removed
            cursor = page.next_start_after

    def _scan_and_clean(
        self, prefix: str, start_after: str | None, limit: int
    ) -> tuple[ScanPage, int]:
        low = b"[" + prefix.encode() if prefix else b"-"
        if start_after is not None and start_after >= prefix:
            low = b"(" + start_after.encode()
        high = b"(" + prefix.encode() + b"\xff" if prefix else b"+"
        args: list[bytes | int] = [low, high, limit, self._data_prefix]
        with self._translate():
            reply = self._scan_script(keys=[self._index], args=args)
        examined, last, cleaned, rest = int(reply[0]), reply[1], int(reply[2]), reply[3:]
        items = [
            _item(rest[i].decode(), rest[i + 1], rest[i + 2], rest[i + 3] or None)
            for i in range(0, len(rest), 4)
        ]
        return ScanPage(items, last.decode() if examined == limit else None), cleaned


def _sending_once(client: redis.Redis) -> redis.Redis:
    """A client for ``client``'s server, with its pool class and settings, that never sends a
    command twice (connecting, before a command is sent, is retried with ``client``'s retry)."""
    pool = client.connection_pool
    options = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
    options.pop("maint_notifications_pool_handler", None)  # the new pool makes its own
    if isinstance(pool, redis.BlockingConnectionPool):
        options |= {"timeout": pool.timeout, "queue_class": pool.queue_class}
    writer = _writer_pool_class(_pool_class(pool))(
        connection_class=pool.connection_class, max_connections=pool.max_connections, **options
    )
    writer.connect_retry = copy.deepcopy(pool.connection_kwargs.get("retry")) or Retry(
        NoBackoff(), 0
    )
    return redis.Redis(connection_pool=writer)


def _pool_class(pool: redis.ConnectionPool) -> type[redis.ConnectionPool]:
    """``pool``'s class if it is constructed as redis-py's pools are, else the one it derives
    from (a sentinel pool, say, takes other arguments)."""
    kind = type(pool)
    known: type[redis.ConnectionPool] = redis.ConnectionPool
    if isinstance(pool, redis.BlockingConnectionPool):
        known = redis.BlockingConnectionPool
    constructor = next(c for c in kind.__mro__ if "__init__" in vars(c))
    return kind if constructor is known else known


class _NotSent(redis.exceptions.ConnectionError):
    """The writer's pool could not hand out a connection, so nothing of the write was sent."""


class _WriterPool(redis.ConnectionPool):
    """Put before the client's pool class in the writer's: connecting is retried, and failing
    to get a connection is :class:`_NotSent`."""

    connect_retry = Retry(NoBackoff(), 0)

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().get_connection(*args, **kwargs)
        except redis.exceptions.AuthenticationError:
            raise
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise _NotSent(str(exc)) from exc

    def ensure_connection(self, connection: Any) -> None:
        ensure = super().ensure_connection
        self.connect_retry.call_with_retry(
            lambda: ensure(connection), lambda _: connection.disconnect()
        )


@functools.cache
def _writer_pool_class(kind: type[redis.ConnectionPool]) -> type[_WriterPool]:
    if issubclass(_WriterPool, kind):
        return _WriterPool
    return type(f"Writer{kind.__name__}", (_WriterPool, kind), {"__module__": __name__})


def _item(key: str, value: bytes | None, version: bytes, expires: bytes | None) -> Item:
    return Item(key, value or b"", int(version), float(expires) if expires else None)
