"""Consumer-group members, shard leases and checkpoints kept in a ``kv`` backend.

Keys (inside the store's namespace): ``<group>/members/<member>`` (TTL = session timeout),
``<group>/leases/<topic>/<partition>`` (JSON ``{"member", "expires_at"}``, changed only by
compare-and-set), ``<group>/offsets/<topic>/<partition>`` (the committed position) and
``<group>/finished/<topic>/<partition>`` (a closed shard the group is done with:
:data:`SHARD_END` or :data:`SKIPPED`) and ``<group>/started/<topic>/<partition>`` (a shard the
group began reading at its tip, with nothing committed yet). A partition is the shard's number
(see :mod:`.shards`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Sequence
from typing import Any

from skybridge.backends.kv import KeyValueStore
from skybridge.backends.streams.records import TopicPartition
from skybridge.core.errors import Conflict

#: A closed shard read to its end, and every record of it committed: its children may be read.
SHARD_END = b"SHARD_END"
#: A closed shard a group starting at ``"latest"`` found already closed and never read.
SKIPPED = b"SKIPPED"
#: A checkpoint key: ``<group>/offsets/<topic>/<partition>`` (topics, being stream names, have
#: no ``/``; groups may).
_OFFSET_KEY = re.compile(r"^(?P<group>.+)/offsets/(?P<topic>[^/]+)/\d+$")


class KvLeases:
    """:class:`~skybridge.backends.streams.leases.LeaseStore` over a ``KeyValueStore``."""

    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    def heartbeat(
        self, group: str, member: str, topics: Sequence[str], expires_at: float, now: float
    ) -> dict[str, tuple[str, ...]]:
        self.kv.put_json(f"{group}/members/{member}", list(topics), ttl=max(expires_at - now, 0.1))
        prefix = f"{group}/members/"
        return {
            item.key[len(prefix) :]: tuple(self.kv.get_json(item.key) or ())
            for item in self.kv.scan_prefix(prefix)
        }

    def _leases(self, group: str) -> dict[TopicPartition, tuple[dict[str, Any], int]]:
        prefix = f"{group}/leases/"
        found: dict[TopicPartition, tuple[dict[str, Any], int]] = {}
        for item in self.kv.scan_prefix(prefix):
            topic, _, part = item.key[len(prefix) :].rpartition("/")
            found[TopicPartition(topic, int(part))] = (_load(item.value), item.version)
        return found

    def acquire(
        self,
        group: str,
        member: str,
        wanted: set[TopicPartition],
        expires_at: float,
        now: float,
    ) -> set[TopicPartition]:
        leases = self._leases(group)
        held: set[TopicPartition] = set()
        for tp, (lease, version) in leases.items():
            if lease.get("member") == member and tp not in wanted:
                self._try(
                    lambda tp=tp, v=version: self.kv.delete(_key(group, tp), expected_version=v)
                )
        for tp in wanted:
            lease, version = leases.get(tp, ({}, 0))
            mine = lease.get("member") == member
            if version and not mine and float(lease.get("expires_at", 0)) >= now:
                continue
            doc = {"member": member, "expires_at": expires_at}
            if self._try(
                lambda tp=tp, v=version, d=doc: self.kv.compare_and_set(
                    _key(group, tp), _dump(d), v
                )
            ):
                held.add(tp)
        return held

    def renew(self, group: str, member: str, topics: Sequence[str], expires_at: float) -> None:
        """Renew ``member`` and the leases it still holds (the background keep-alive's
        :data:`~skybridge.backends.streams.leases.Renew`; takes nothing new)."""
        ttl = max(expires_at - time.time(), 0.1)
        self.kv.put_json(f"{group}/members/{member}", list(topics), ttl=ttl)
        for tp, (lease, version) in self._leases(group).items():
            if lease.get("member") == member:
                held_until = float(lease.get("expires_at", 0))
                doc = {"member": member, "expires_at": max(expires_at, held_until)}
                self._try(
                    lambda tp=tp, v=version, d=doc: self.kv.compare_and_set(
                        _key(group, tp), _dump(d), v
                    )
                )

    def owners(self, group: str, now: float) -> dict[TopicPartition, str]:
        return {
            tp: str(lease["member"])
            for tp, (lease, _) in self._leases(group).items()
            if "member" in lease and float(lease.get("expires_at", 0)) >= now
        }

    def holds(self, group: str, member: str, tps: set[TopicPartition], now: float) -> bool:
        for tp in tps:
            item = self.kv.get_item(_key(group, tp))
            lease = _load(item.value) if item else {}
            if lease.get("member") != member or float(lease.get("expires_at", 0)) < now:
                return False
        return True

    def leave(self, group: str, member: str) -> None:
        for tp, (lease, version) in self._leases(group).items():
            if lease.get("member") == member:
                self._try(
                    lambda tp=tp, v=version: self.kv.delete(_key(group, tp), expected_version=v)
                )
        self.kv.delete(f"{group}/members/{member}")

    @staticmethod
    def _try(write: Any) -> bool:
        try:
            write()
        except Conflict:
            return False  # another member got there first
        return True

    # -- checkpoints --------------------------------------------------------------------------

    def commit(
        self,
        group: str,
        offsets: dict[TopicPartition, int],
        shard_ends: Collection[TopicPartition] = (),
    ) -> None:
        """Store ``offsets``; ``shard_ends`` are closed shards these offsets complete."""
        items = {_offset_key(group, tp): b"%d" % pos for tp, pos in offsets.items()}
        items.update({_finished_key(group, tp): SHARD_END for tp in shard_ends})
        self.kv.put_many(items)

    def finish(self, group: str, tp: TopicPartition, how: bytes) -> None:
        self.kv.put(_finished_key(group, tp), how)

    def finished(self, group: str, topic: str) -> dict[int, bytes]:
        """The group's finished shards of ``topic``: partition -> SHARD_END or SKIPPED."""
        prefix = f"{group}/finished/{topic}/"
        return {int(item.key[len(prefix) :]): item.value for item in self.kv.scan_prefix(prefix)}

    def mark_started(self, group: str, tp: TopicPartition) -> None:
        """The group reads ``tp`` from its tip ("latest") and has no checkpoint there yet."""
        self.kv.put(_started_key(group, tp), b"1")

    def started(self, group: str, tp: TopicPartition) -> bool:
        return self.kv.get(_started_key(group, tp)) is not None

    def groups(self) -> dict[str, list[str]]:
        """Every group with a checkpoint: the topics it has checkpoints on, sorted."""
        found: dict[str, set[str]] = {}
        for key in self.kv.keys(""):
            match = _OFFSET_KEY.match(key)
            if match:
                found.setdefault(match["group"], set()).add(match["topic"])
        return {group: sorted(topics) for group, topics in sorted(found.items())}

    def committed(self, group: str, tp: TopicPartition) -> int | None:
        value = self.kv.get(_offset_key(group, tp))
        return int(value) if value is not None else None


def _key(group: str, tp: TopicPartition) -> str:
    return f"{group}/leases/{tp.topic}/{tp.partition}"


def _offset_key(group: str, tp: TopicPartition) -> str:
    return f"{group}/offsets/{tp.topic}/{tp.partition}"


def _started_key(group: str, tp: TopicPartition) -> str:
    return f"{group}/started/{tp.topic}/{tp.partition}"


def _finished_key(group: str, tp: TopicPartition) -> str:
    return f"{group}/finished/{tp.topic}/{tp.partition}"


def _dump(doc: dict[str, Any]) -> bytes:
    import json

    return json.dumps(doc).encode()


def _load(raw: bytes) -> dict[str, Any]:
    import json

    loaded = json.loads(raw)
    return loaded if isinstance(loaded, dict) else {}
