"""Work that many concurrent callers would otherwise each repeat (a burst of first requests
building the same document in every worker thread): values built once per key and kept
(:class:`BuiltOnce`), and calls whose answer is shared by the callers that ask while one runs
(:class:`Shared`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BuiltOnce(Generic[K, V]):
    """``get(key, build)`` builds the value of ``key`` once; callers asking while it is built
    wait for that build. At most ``kept`` values are kept: when full, all are dropped.

    Callers that change what they get must copy it first: every caller gets the same value.
    """

    def __init__(self, kept: int = 1024) -> None:
        self.kept = kept
        self._values: dict[K, V] = {}
        self._lock = threading.Lock()

    def built(self, key: K) -> V | None:
        """The value of ``key`` if it is built (never waits for a build)."""
        return self._values.get(key)

    def get(self, key: K, build: Callable[[], V]) -> V:
        with self._lock:
            if key in self._values:
                return self._values[key]
            if len(self._values) >= self.kept:
                self._values.clear()
            value = self._values[key] = build()
            return value


class Shared(Generic[K, V]):
    """``call(key, work)`` runs ``work`` unless a call for ``key`` is running already: then it
    waits for that call and answers its result (or raises its error). Nothing is kept: the
    first caller after a call ends runs ``work`` again, so an answer is never older than the
    call it waited for.

    For checks that are costly and ask the world rather than compute (probing every backend):
    a burst of requests makes one round of them, each request's answer as fresh as its own.
    """

    def __init__(self) -> None:
        self._running: dict[K, Future[V]] = {}
        self._lock = threading.Lock()

    def call(self, key: K, work: Callable[[], V]) -> V:
        with self._lock:
            running = self._running.get(key)
            if running is None:
                mine: Future[V] = Future()
                self._running[key] = mine
        if running is not None:
            return _answer_of(running)
        try:
            value = work()
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            mine.set_result(value)
            return value
        finally:
            with self._lock:
                del self._running[key]


def _answer_of(call: Future[V]) -> V:
    """``call``'s result; its error raised as a copy (chained to it), so that callers in other
    threads do not add their frames to one shared traceback (an error that cannot be copied
    faithfully is raised as it is)."""
    try:
        return call.result()
    except Exception as exc:
        copied = _copy_of(exc)
        if copied is None:
            raise
        raise copied from exc


def _copy_of(error: Exception) -> Exception | None:
    """``error`` made again without calling its constructor (which may want keyword arguments
    or format its message again): its ``args`` and attributes, its notes in a list of their
    own; ``None`` when the copy would not read the same."""
    kind = type(error)
    made_from = error.args
    if isinstance(error, OSError) and error.filename is not None:  # not among its args
        made_from = (error.errno, error.strerror, error.filename, None, error.filename2)
    try:
        copied = kind.__new__(kind, *made_from)
        copied.args = error.args
        copied.__dict__.update(error.__dict__)
        if isinstance(notes := error.__dict__.get("__notes__"), list):
            copied.__notes__ = list(notes)
        same = str(copied) == str(error)
    except Exception:
        return None
    return copied if same else None
