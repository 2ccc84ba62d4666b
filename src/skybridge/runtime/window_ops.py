"""Event-time windows inside a pipeline: one :class:`WindowedAggregation` per source partition.

Window state lives in the pipeline's state store under
``windows/<pipeline>/<topic>/<partition>/`` (``w/<key>/<start>`` per window, ``m`` for the
partition's metadata: watermark snapshot, the offset of the last record folded in, and a
sequence number of idle closes). It is written through the batch's
:class:`~.writes.WriteSet`, so it commits in the same ``write_batch`` as the handler state and
kv sink documents, before offsets are committed. After a crash the partition's aggregation is
rebuilt from the store; records at or below the stored offset are not folded in again, so
window contents and emitted results are exactly-once (for kv sinks; streams get each result
at least once with a stable event id).

Results emitted while handling a record are attributed to that record. Results of windows the
clock closes while a partition is idle (``advance``) are attributed to a synthetic record of
topic ``<topic>~windows`` whose offset is the partition's close sequence number.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

from skybridge.backends.kv.base import KeyValueStore
from skybridge.backends.streams.records import Record, TopicPartition
from skybridge.core.clock import Clock
from skybridge.runtime.state import Guarded, GuardedStore
from skybridge.runtime.window_state import StoredWindow
from skybridge.runtime.windows import Aggregator, WindowedAggregation, WindowSpec
from skybridge.runtime.writes import WriteSet

_META = "m"


class StagedWindowStore:
    """A :class:`~.window_state.WindowStore` whose changes wait for the batch's write set."""

    def __init__(self, kv: KeyValueStore, prefix: str) -> None:
        self.guarded = GuardedStore(kv, prefix, cache_size=0)
        self._docs: dict[str, Guarded] = {}
        self._windows: dict[tuple[str, float], StoredWindow] = {}
        self._dirty: dict[str, StoredWindow | None] = {}
        self.meta: dict[str, Any] = {"offset": -1, "closes": 0}
        for item in kv.scan_prefix(prefix):
            name = item.key[len(prefix) :]
            doc = Guarded.decode(item.value, item.version)
            self._docs[name] = doc
            if doc.deleted:
                continue
            if name == _META:
                self.meta.update(doc.value)
            else:
                window = _window(name, doc.value)
                self._windows[(window.key, window.start)] = window

    @staticmethod
    def _name(key: str, start: float) -> str:
        return f"w/{quote(key, safe='')}/{float(start)!r}"

    # -- the WindowStore protocol ----------------------------------------------------------

    def load(self, key: str, start: float) -> StoredWindow | None:
        return self._windows.get((key, start))

    def save(self, window: StoredWindow) -> None:
        self._windows[(window.key, window.start)] = window
        self._dirty[self._name(window.key, window.start)] = window

    def remove(self, key: str, start: float) -> None:
        self._windows.pop((key, start), None)
        self._dirty[self._name(key, start)] = None

    def scan(self) -> Iterator[StoredWindow]:
        return iter(list(self._windows.values()))

    def load_meta(self, name: str) -> Any:
        return self.meta.get(name)

    def save_meta(self, name: str, document: Any) -> None:
        self.meta[name] = document
        self._dirty[_META] = None  # marker: the meta document changed

    # -- staging ---------------------------------------------------------------------------

    def stage(self, writes: WriteSet) -> None:
        """Stage every window and metadata change since the last call into ``writes``."""
        self._dirty[_META] = None
        for name, window in self._dirty.items():
            known = self._docs.get(name) or Guarded()
            if name == _META:
                value: Any = dict(self.meta)
            elif window is None:
                if known.version == 0 or known.deleted:
                    continue
                doc = Guarded(None, {}, known.version, deleted=True)
                self._docs[name] = doc
                writes.stage(self.guarded, name, doc)
                continue
            else:
                value = {"start": window.start, "end": window.end, "acc": window.acc}
                if window.closed:
                    value["closed"] = True
            doc = Guarded(value, {}, known.version)
            self._docs[name] = doc
            writes.stage(self.guarded, name, doc)
        self._dirty.clear()


def _window(name: str, value: dict[str, Any]) -> StoredWindow:
    quoted = name[2:].rsplit("/", 1)[0]
    return StoredWindow(
        unquote(quoted),
        float(value["start"]),
        float(value["end"]),
        value["acc"],
        bool(value.get("closed", False)),
    )


class PartitionWindows:
    """The aggregation of one source partition and its staged store."""

    def __init__(
        self, tp: TopicPartition, agg: WindowedAggregation[Any, Any, Any], store: StagedWindowStore
    ) -> None:
        self.tp = tp
        self.agg = agg
        self.store = store

    @property
    def offset(self) -> int:
        return int(self.store.meta["offset"])

    def folded(self, offset: int) -> None:
        self.store.meta["offset"] = offset

    def close_record(self) -> Record:
        """The synthetic record idle-closed results are attributed to (next sequence number)."""
        self.store.meta["closes"] = int(self.store.meta["closes"]) + 1
        return Record(
            f"{self.tp.topic}~windows", self.tp.partition, self.store.meta["closes"], None, b""
        )


class WindowOperator:
    """Builds and keeps the per-partition aggregations of a windowed pipeline."""

    def __init__(
        self,
        name: str,
        kv: KeyValueStore,
        spec: WindowSpec,
        aggregator: Aggregator[Any, Any, Any],
        options: dict[str, Any],
        clock: Clock,
    ) -> None:
        self.name = name
        self.kv = kv
        self.spec = spec
        self.aggregator = aggregator
        self.options = options
        self.clock = clock
        self.partitions: dict[TopicPartition, PartitionWindows] = {}
        self.touched: set[TopicPartition] = set()

    def prefix(self, tp: TopicPartition) -> str:
        return f"windows/{self.name}/{quote(tp.topic, safe='')}/{tp.partition}/"

    def get(self, tp: TopicPartition) -> PartitionWindows:
        found = self.partitions.get(tp)
        if found is None:
            store = StagedWindowStore(self.kv, self.prefix(tp))
            agg: WindowedAggregation[Any, Any, Any] = WindowedAggregation(
                self.spec, self.aggregator, store=store, clock=self.clock, **self.options
            )
            found = self.partitions[tp] = PartitionWindows(tp, agg, store)
        return found

    def stage(self, writes: WriteSet) -> None:
        """Checkpoint the watermarks of partitions changed in this batch and stage them."""
        for tp in self.touched:
            part = self.partitions.get(tp)
            if part is not None:
                part.agg.checkpoint()
                part.store.stage(writes)
        self.touched.clear()

    def invalidate(self) -> None:
        """Drop every aggregation; they are rebuilt from the store when next needed."""
        self.partitions.clear()
        self.touched.clear()
