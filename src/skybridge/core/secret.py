"""Secret values: masked wherever they could leak.

A :class:`Secret` wraps a value (text or bytes) so that ``repr``, ``str``, f-strings, logging,
pickling for tracebacks and JSON encoders all see ``'***'``. Reading the value is explicit:
:meth:`Secret.reveal`. Every value wrapped is also remembered (in-process) so the log redaction
processor can scrub it even where it was copied into free text by mistake (values of 8 or more
characters), or passed on its own as a log field (any length: :func:`is_known_secret`).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Generic, TypeVar

MASK = "***"

T = TypeVar("T", str, bytes)

_known_lock = threading.Lock()
_known: set[str] = set()
_known_short: set[str] = set()
# Short values would make redaction rewrite ordinary words ("seconds" holds "cond"); they
# still stay masked in repr, str and logs as fields, only free-text scrubbing skips them.
_MIN_SCRUB_LENGTH = 8


def _remember(value: str | bytes) -> None:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if not text:
        return
    with _known_lock:
        (_known if len(text) >= _MIN_SCRUB_LENGTH else _known_short).add(text)


def forget_known_secrets() -> None:
    """Drop every remembered value (test isolation; a process normally keeps them all)."""
    with _known_lock:
        _known.clear()
        _known_short.clear()


def is_known_secret(text: str) -> bool:
    """Whether ``text`` is, as a whole, a value wrapped in a :class:`Secret` in this process."""
    with _known_lock:
        return text in _known or text in _known_short


def scrub(text: str) -> str:
    """Replace every known secret value inside ``text`` with the mask."""
    with _known_lock:
        known = [k for k in _known if k in text]
    for value in sorted(known, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


class Secret(Generic[T]):
    """A secret value of type ``str`` or ``bytes`` that never prints itself."""

    __slots__ = ("_value",)
    _value: T

    def __init__(self, value: T) -> None:
        self._value = value
        _remember(value)

    def reveal(self) -> T:
        """Return the wrapped value. Call this only where the value must leave the process."""
        return self._value

    @property
    def is_binary(self) -> bool:
        return isinstance(self._value, bytes)

    def as_bytes(self) -> bytes:
        v = self._value
        return v if isinstance(v, bytes) else v.encode("utf-8")

    def sha256(self) -> str:
        """Hex digest of the value; safe to log and store (used to detect drift)."""
        return hashlib.sha256(self.as_bytes()).hexdigest()

    def __len__(self) -> int:
        return len(self.as_bytes())

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac

        return hmac.compare_digest(self.as_bytes(), other.as_bytes())

    def __hash__(self) -> int:
        return hash(self.sha256())

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values cannot be pickled")
