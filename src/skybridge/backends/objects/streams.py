"""Adapters between the shapes a body can take: bytes, file-like objects, chunk iterators."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import IO, Any

from skybridge.core.errors import ValidationError


class ChunkReader(io.RawIOBase):
    """A read-only raw stream over an iterator of byte chunks (wrap it in BufferedReader)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise ValidationError(
                    f"a body iterator must yield bytes, got {type(chunk).__name__}"
                )
            self._pending = bytes(chunk)
        size = min(len(view), len(self._pending))
        view[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._chunks, "close", None)
            if callable(close):
                close()
        super().close()


def as_reader(data: object) -> IO[bytes]:
    """Return a binary readable stream over ``data`` (bytes, file-like or iterable of bytes)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(data))
    if isinstance(data, str):
        raise ValidationError("object data must be bytes, not str; encode it (e.g. .encode())")
    if isinstance(data, io.TextIOBase):
        raise ValidationError("object data must be a binary stream; open the file with 'rb'")
    if callable(getattr(data, "read", None)):
        return data  # type: ignore[return-value]
    if isinstance(data, Iterable):
        return io.BufferedReader(ChunkReader(data))
    raise ValidationError(
        f"object data must be bytes, a binary file or an iterable of bytes, "
        f"got {type(data).__name__}"
    )


class ClosingIterator(Iterator[bytes]):
    """Wraps a backend's chunk iterator so ``close()`` always reaches it."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        close_chunks(self._chunks)

    def __del__(self) -> None:
        self.close()


def close_chunks(chunks: object) -> None:
    """Call ``chunks.close()`` when the iterator has one (generators, streaming bodies)."""
    close = getattr(chunks, "close", None)
    if callable(close):
        close()
