"""Translation of ``OSError`` into the skybridge error tree for the ``file://`` store."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from skybridge.core.errors import NotFound, TerminalError, TransientError

_TRANSIENT = {errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.EMFILE, errno.ENFILE, errno.ETIMEDOUT}
_MISSING = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR}


@contextmanager
def os_errors(key: str) -> Iterator[None]:
    """Raise NotFound, TransientError or TerminalError instead of an ``OSError``."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if exc.errno in _MISSING:
            raise NotFound(f"object {key!r} does not exist") from None
        if exc.errno in _TRANSIENT:
            raise TransientError(f"file store: {reason} on {key!r}") from exc
        raise TerminalError(f"file store: {reason} on {key!r}") from exc
