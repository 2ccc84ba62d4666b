"""Words for people: counts that agree with their nouns, for the CLI, pages and messages."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 row``, ``2 rows``: ``count`` with ``noun`` agreeing (``plural`` when not noun + s)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
