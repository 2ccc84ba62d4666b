"""Canary secrets for no-leak tests: fail when a log call ever received a secret.

Checking the rendered log for one long canary cannot tell "never logged" from "logged but
masked", and log masking scrubs free text only for values of 8 or more characters. A
:class:`LogWatch` therefore looks at every log event twice: as the code passed it to the
logger (before any redaction) and as it was written. It reports a leak when an event carries

* a canary value in clear (canaries of 1-3 characters are matched as whole words, where ``_``
  and ``-`` join words as in random tokens; longer ones anywhere), as text or bytes;
* a :class:`~skybridge.core.secret.Secret` object, or the mask ``***`` (a masked secret reached
  a log call: the code logged the secret and only redaction saved it);
* the ``secret_in_log`` flag the redaction processor sets.

Use it around a secret-handling path, with canaries of every length as the values::

    from skybridge.testing.canary import canary_values, watch_logs

    def test_sync_never_logs_values(store):
        with watch_logs(canary_values()) as watch:
            for value in watch.canaries:
                store.upsert_value("name", Secret(value))
        watch.assert_no_leaks()

The pytest plugin offers the same as the fixture ``log_canary`` (a started :class:`LogWatch`).
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from skybridge.core.observability import SECRET_IN_LOG, configure_logging
from skybridge.core.secret import MASK, Secret

#: Lengths :func:`canary_values` makes: every short length, and one long value.
CANARY_LENGTHS = (1, 2, 3, 4, 5, 6, 7, 40)
# Uncommon letters, so a canary is not an ordinary word in a log line; the shortest ones leave
# out letters that stand alone in versions, units and times (x86, v1, 10ms, ...Z).
_ALPHABET = "QXZJKVWqxzjkvw"
_SHORT_ALPHABET = "QJKqjk"
_WORD_MATCH_BELOW = 4
#: Words for short canaries: ``_`` and ``-`` join, as in URL-safe random tokens (CSRF tokens,
#: ids), whose one-letter pieces would otherwise read as a short canary.
_WORDS = re.compile(r"[A-Za-z0-9_-]+")


def canary_values(lengths: Iterable[int] = CANARY_LENGTHS) -> list[str]:
    """Fresh random canary values, one per length (letters that rarely form words)."""
    return [_canary(n) for n in lengths]


def _canary(length: int) -> str:
    alphabet = _SHORT_ALPHABET if length < _WORD_MATCH_BELOW else _ALPHABET
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class Leak:
    """One finding. It never holds the canary itself, only its length."""

    kind: str
    where: str
    canary_length: int | None = None

    def __str__(self) -> str:
        size = f" (a {self.canary_length}-character canary)" if self.canary_length else ""
        return f"{self.kind} in {self.where}{size}"


@dataclass
class LogWatch:
    """Log events seen while the watch is on, and the canaries they must never carry."""

    canaries: list[str] = field(default_factory=list)
    events: list[tuple[str, Any]] = field(default_factory=list)
    stream: io.StringIO = field(default_factory=io.StringIO)
    #: Loggers of the test's own servers (a receiving SMTP server), not of the path under test.
    ignored: tuple[str, ...] = ()

    def is_ignored(self, logger: str) -> bool:
        """Whether ``logger`` is, or is below, one of the ignored loggers."""
        return any(logger == name or logger.startswith(name + ".") for name in self.ignored)

    def add(self, *values: str | bytes | Secret[Any]) -> None:
        """Watch for more values (a ``Secret`` is watched for its revealed value)."""
        for value in values:
            raw = value.reveal() if isinstance(value, Secret) else value
            self.canaries.append(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)

    def rendered(self) -> list[dict[str, Any]]:
        """The events as written by the logging pipeline (parsed JSON lines)."""
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def leaks(self) -> list[Leak]:
        """Every leak in the events so far, raw and rendered."""
        found = [leak for where, raw in self.events for leak in self._scan(raw, where)]
        for event in self.rendered():
            if self.is_ignored(str(event.get("logger", ""))):
                continue
            where = f"written event {event.get('event', '?')!r}"
            if SECRET_IN_LOG in event:
                found.append(Leak(f"redaction flag ({', '.join(event[SECRET_IN_LOG])})", where))
            found.extend(self._scan(event, where))
        return [replace(leak, where=self._hide(leak.where)) for leak in found]

    def scan(self, value: Any, where: str) -> list[Leak]:
        """Check any other output (API bodies, stored state, errors) the same way as events."""
        return list(self._scan(value, where))

    def assert_no_leaks(self) -> None:
        """Raise ``AssertionError`` listing every leak (never the values themselves)."""
        leaks = self.leaks()
        assert not leaks, "secrets reached log calls:\n" + "\n".join(f"  {x}" for x in leaks)

    def _scan(self, value: Any, where: str) -> Iterator[Leak]:
        if isinstance(value, Secret):
            yield Leak("Secret object", where)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                yield from self._scan(item, f"{where} field {key!r}")
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                yield from self._scan(item, where)
        elif isinstance(value, BaseException):
            yield from self._scan_text(f"{value} {value!r}", where)
            yield from self._scan(list(value.args), where)
        elif isinstance(value, str | bytes):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            yield from self._scan_text(text, where)
        elif value is not None and not isinstance(value, int | float | bool):
            yield from self._scan_text(repr(value), where)

    def _hide(self, text: str) -> str:
        """``text`` (an event name, a field name) with every canary in it replaced."""
        for canary in sorted(self.canaries, key=len, reverse=True):
            if len(canary) < _WORD_MATCH_BELOW:
                text = re.sub(
                    rf"(?<![A-Za-z0-9_-]){re.escape(canary)}(?![A-Za-z0-9_-])", "<canary>", text
                )
            else:
                text = text.replace(canary, "<canary>")
        return text

    def _scan_text(self, text: str, where: str) -> Iterator[Leak]:
        if MASK in text:
            yield Leak("mask", where)
        words = set(_WORDS.findall(text))
        for canary in self.canaries:
            short = len(canary) < _WORD_MATCH_BELOW
            if (canary in words) if short else (canary in text):
                yield Leak("clear value", where, len(canary))


class _RecordCapture(logging.Handler):
    """Keeps each stdlib record's message and arguments as the code passed them."""

    def __init__(self, watch: LogWatch) -> None:
        super().__init__(logging.DEBUG)
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        if self.watch.is_ignored(record.name):
            return
        try:
            raw = {"msg": record.msg, "args": record.args, "message": record.getMessage()}
        except Exception:  # a malformed call; logging reports it, the watch keeps what it can
            raw = {"msg": record.msg, "args": record.args}
        self.watch.events.append((f"stdlib record from {record.name!r}", raw))


def _capture_raw(watch: LogWatch) -> Any:
    def processor(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        watch.events.append((f"log call {event_dict.get('event', '?')!r}", dict(event_dict)))
        return event_dict

    return processor


@contextmanager
def watch_logs(
    canaries: Iterable[str | bytes | Secret[Any]] = (), *, ignore: Iterable[str] = ()
) -> Iterator[LogWatch]:
    """Run the production logging pipeline at DEBUG and record every event, raw and written.

    Args:
        canaries: Values no event may carry (more can be added with :meth:`LogWatch.add`).
        ignore: stdlib logger names of the test's own servers, whose records are not checked.

    The previous structlog and stdlib logging configuration is restored on exit.
    """
    watch = LogWatch(ignored=tuple(ignore))
    watch.add(*canaries)
    saved = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("DEBUG", json_output=True, stream=watch.stream)
    structlog.configure(processors=[_capture_raw(watch), *structlog.get_config()["processors"]])
    root.addHandler(_RecordCapture(watch))
    try:
        yield watch
    finally:
        structlog.configure(**saved)
        root.handlers = saved_handlers
        root.setLevel(saved_level)
