"""Where pipeline outputs go: stream, kv, SQL and notify sinks, each idempotent.

A sink receives every :class:`~.outputs.Effect` of a batch addressed to it and must be safe to
call again with the same effects (the pipeline replays a batch whose offsets were not committed):

* :class:`KVSink` — exactly-once effects through the version guard of :mod:`.state`. In a
  pipeline it is a :class:`StagingSink`: its documents join the batch's :class:`~.writes.WriteSet`
  and are written together with the handler state (one ``write_batch`` per kv store).
* :class:`SQLSink` — upserts guarded by ``_sb_source`` / ``_sb_offset`` columns: a row is only
  overwritten by a later offset of the same source (or by another source); an :class:`Insert`
  writes a row only where none with its key is stored.
* :class:`NotifySink` — a kv ledger of sent event ids; at-least-once if the process dies
  between sending and recording (the notifier's own ``dedup_key`` window catches most repeats).
* :class:`StreamSink` — at-least-once; every message carries the ``skybridge-event-id`` header
  so consumers can drop the rare duplicate produced by a crash between produce and commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Engine, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

from skybridge.backends.kv.base import KeyValueStore
from skybridge.backends.notify.base import Notifier
from skybridge.backends.sql import translate_sql_error
from skybridge.backends.streams.base import StreamBackend
from skybridge.backends.streams.records import Message
from skybridge.core.errors import ConfigError, NotFound, ValidationError
from skybridge.runtime.outputs import (
    EVENT_ID_HEADER,
    Alert,
    Delete,
    Effect,
    Emit,
    Insert,
    Put,
    Update,
    Upsert,
    source_id,
)
from skybridge.runtime.state import DELETED, Guarded, GuardedStore
from skybridge.runtime.writes import WriteSet


class Sink(Protocol):
    """Applies effects idempotently; returns how many took effect now (not skipped)."""

    def write(self, effects: Sequence[Effect]) -> int: ...


@runtime_checkable
class StagingSink(Sink, Protocol):
    """A sink whose writes join the batch's write set instead of being written at once."""

    def stage(self, effects: Sequence[Effect], writes: WriteSet) -> int:
        """Stage the effects' documents into ``writes``; returns how many documents changed."""
        ...

    def invalidate(self) -> None:
        """Forget cached documents (after a rebalance)."""
        ...


def _expect(effect: Effect, kinds: tuple[type, ...], sink: str) -> Any:
    if not isinstance(effect.output, kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise ValidationError(f"sink {sink!r} takes {names} outputs, got {effect.output!r}")
    return effect.output


class KVSink:
    """Puts, updates and deletes of JSON documents under ``prefix`` of a kv store.

    Read results with :meth:`get` (documents are stored in the runtime's guarded envelope).
    """

    def __init__(self, kv: KeyValueStore, prefix: str = "") -> None:
        self.store = GuardedStore(kv, prefix)

    def get(self, key: str) -> Any:
        return self.store.get(key)

    def write(self, effects: Sequence[Effect]) -> int:
        """Apply ``effects`` now (one ``write_batch``); outside a pipeline's batch."""
        writes = WriteSet()
        changed = self.stage(effects, writes)
        writes.flush()
        return changed

    def stage(self, effects: Sequence[Effect], writes: WriteSet) -> int:
        by_key: dict[str, list[Effect]] = {}
        for effect in effects:
            output = effect.output
            if type(output) is not Put and not isinstance(output, (Put, Update, Delete)):
                output = _expect(effect, (Put, Update, Delete), "kv")
            group = by_key.get(output.key)
            if group is None:
                by_key[output.key] = [effect]
            else:
                group.append(effect)
        staged = writes.child()
        docs = writes.load(self.store, list(by_key))
        for key, key_effects in by_key.items():
            updated = _fold_effects(docs[key], key_effects)
            if updated is not None:
                staged.stage(self.store, key, updated)
        writes.merge(staged)
        return len(staged)

    def invalidate(self) -> None:
        self.store.invalidate()


def _fold_effects(doc: Guarded, effects: list[Effect]) -> Guarded | None:
    """``doc`` with the effects not yet applied, in order (the one-pass form of
    :func:`~.state.fold` for kv outputs); ``None`` if every effect was already applied.

    A record's change is skipped when its offset is at or below the *stored* guard of its
    source (one record may change a key several times).
    """
    stored = doc.guard
    guard: dict[str, int] | None = None
    value, deleted = doc.value, doc.deleted
    topic, partition, source, floor = "", -1, "", -1
    for record, _index, output in effects:
        if record.partition != partition or record.topic != topic:
            topic, partition = record.topic, record.partition
            source = f"{topic}/{partition}"
            floor = stored.get(source, -1)
        offset = record.offset
        if offset <= floor:
            continue
        if isinstance(output, Put):
            value = output.value
        elif isinstance(output, Update):
            value = output.fn(None if deleted else value)
        else:
            value = DELETED
        deleted = value is DELETED
        if deleted:
            value = None
        if guard is None:
            guard = dict(stored)
        if offset > guard.get(source, -1):
            guard[source] = offset
    return None if guard is None else Guarded(value, guard, doc.version, deleted)


class StreamSink:
    """Produces :class:`~.outputs.Emit` outputs, one batch per topic, with event-id headers."""

    def __init__(self, backend: StreamBackend, *, create_partitions: int | None = None) -> None:
        self.backend = backend
        self.create_partitions = create_partitions
        self._known: set[str] = set()

    def write(self, effects: Sequence[Effect]) -> int:
        by_topic: dict[str, list[Message]] = defaultdict(list)
        for effect in effects:
            out: Emit = _expect(effect, (Emit,), "stream")
            key = out.key.encode() if isinstance(out.key, str) else out.key
            headers = [*out.headers, (EVENT_ID_HEADER, effect.event_id.encode())]
            by_topic[out.topic].append(Message(out.payload(), key, headers))
        for topic, messages in by_topic.items():
            self._ensure(topic)
            self.backend.produce(topic, messages)
        return len(effects)

    def _ensure(self, topic: str) -> None:
        if topic in self._known:
            return
        try:
            self.backend.describe(topic)
        except NotFound:
            if self.create_partitions is None:
                raise
            self.backend.create_topic(topic, self.create_partitions)
        self._known.add(topic)


class SQLSink:
    """Guarded upserts and :class:`Insert` rows. Each table needs its primary key plus
    ``_sb_source`` (text) and ``_sb_offset`` (integer) columns; ``keys`` names each table's
    conflict columns."""

    def __init__(self, engine: Engine, keys: dict[str, Sequence[str]]) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ConfigError(f"the SQL sink cannot upsert on {engine.dialect.name} yet")
        self.engine = engine
        self.keys = {table: list(cols) for table, cols in keys.items()}
        self._tables: dict[str, Table] = {}
        self._statements: dict[tuple[str, tuple[str, ...], bool], Any] = {}

    def _table(self, name: str) -> Table:
        if name not in self._tables:
            if name not in self.keys:
                raise ValidationError(f"SQL sink has no key columns for table {name!r}")
            try:
                table = Table(name, MetaData(), autoload_with=self.engine)
            except NoSuchTableError:
                raise ConfigError(
                    f"the SQL sink's table {name!r} does not exist",
                    hint="create it with its key and _sb_source TEXT, _sb_offset INTEGER columns",
                ) from None
            needed = [*self.keys[name], "_sb_source", "_sb_offset"]
            if missing := [c for c in needed if c not in table.c]:
                raise ConfigError(
                    f"the SQL sink's table {name!r} lacks the column(s) {', '.join(missing)}",
                    hint="_sb_source TEXT and _sb_offset INTEGER keep the record each row came "
                    "from (the guard against older writes)",
                )
            self._tables[name] = table
        return self._tables[name]

    def write(self, effects: Sequence[Effect]) -> int:
        """Write the rows in order: one ``executemany`` per run of rows of one table that set
        the same columns the same way, upsert or :class:`Insert` (a statement per row cost more
        than the rest of a batch)."""
        runs: list[tuple[str, tuple[str, ...], bool, list[dict[str, Any]]]] = []
        for effect in effects:
            out: Upsert = _expect(effect, (Upsert,), "sql")
            row = {
                **out.row,
                "_sb_source": source_id(effect.record),
                "_sb_offset": effect.record.offset,
            }
            columns = tuple(row)
            insert = isinstance(out, Insert)
            if runs and runs[-1][:3] == (out.table, columns, insert):
                runs[-1][3].append(row)
            else:
                runs.append((out.table, columns, insert, [row]))
        written = 0
        try:
            with self.engine.begin() as conn:
                for table, columns, insert, rows in runs:
                    statement = self._statement(table, columns, insert)
                    count = conn.execute(statement, rows).rowcount
                    # Drivers may report -1 (unknown) for upserts: count the rows as written.
                    written += count if count >= 0 else len(rows)
        except SQLAlchemyError as exc:
            # The database down or locked is transient (the batch stops uncommitted and comes
            # again), never a reason to dead-letter the records; a refused row is not.
            tables = ", ".join(sorted({run[0] for run in runs}))
            raise translate_sql_error(exc, f"SQL sink writing {tables}") from None
        return written

    def _statement(self, name: str, columns: tuple[str, ...], insert: bool) -> Any:
        key = (name, columns, insert)
        if key not in self._statements:
            table = self._table(name)
            dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(table)
            if insert:
                self._statements[key] = stmt.on_conflict_do_nothing(index_elements=self.keys[name])
            else:
                excluded = stmt.excluded
                guard = (table.c._sb_source != excluded._sb_source) | (
                    table.c._sb_offset < excluded._sb_offset
                )
                updates = {c: excluded[c] for c in columns if c not in self.keys[name]}
                self._statements[key] = stmt.on_conflict_do_update(
                    index_elements=self.keys[name], set_=updates, where=guard
                )
        return self._statements[key]


class NotifySink:
    """Sends :class:`~.outputs.Alert` outputs once per event id (ledger in ``ledger`` kv)."""

    def __init__(
        self, notifier: Notifier, ledger: KeyValueStore, prefix: str = "notified/"
    ) -> None:
        self.notifier = notifier
        self.ledger = ledger
        self.prefix = prefix

    def write(self, effects: Sequence[Effect]) -> int:
        sent = 0
        done = self.ledger.get_many(self.prefix + e.event_id for e in effects)
        for effect in effects:
            out: Alert = _expect(effect, (Alert,), "notify")
            mark = self.prefix + effect.event_id
            if mark in done:
                continue
            self.notifier.send(out.notification)
            self.ledger.put(mark, b"1")
            sent += 1
        return sent
