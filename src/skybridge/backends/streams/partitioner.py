"""Kafka's default partitioner: murmur2 of the key, so keys land where Java and librdkafka
(``partitioner=murmur2_random``) put them."""

from __future__ import annotations

import functools
import random

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` (seed 0x9747b28c) as an unsigned 32-bit int."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    n_blocks = length // 4
    for i in range(n_blocks):
        k = int.from_bytes(data[i * 4 : i * 4 + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[n_blocks * 4 :]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes | None, partitions: int) -> int:
    """The partition of ``key`` among ``partitions``; keyless messages go to a random one."""
    if key is None:
        return random.randrange(partitions)
    return keyed_partition(key, partitions)


@functools.lru_cache(maxsize=65_536)
def keyed_partition(key: bytes, partitions: int) -> int:
    """The partition of ``key`` (not ``None``) among ``partitions``."""
    # Keys repeat (users, devices): a cache hit costs a tenth of murmur2 in Python.
    return (murmur2(key) & 0x7FFFFFFF) % partitions
