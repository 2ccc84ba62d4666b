"""How many deleted ids a collection keeps for the change feed (:meth:`VectorStore.changes`).

A store with a change feed records each deleted id with the revision that deleted it. Kept
for ever they would grow with every re-ingest, so each collection keeps those of its recent
revisions only: while a collection holds ``count`` live records it keeps at most
``max(count, floor)`` deleted ids (``floor``: :data:`KEEP_DELETED` unless the store is told
otherwise). A delete that takes it over that bound prunes the oldest revisions' ids until at
most half the bound are left, and the collection's ``feed_from`` (the oldest revision the feed
answers for) moves up to the newest revision pruned, in the same transaction. Halving makes a
prune rare (more than a quarter of the bound is deleted between two), and each id is recorded
once and pruned at most once, so the work is constant per deleted id: the kept ids are counted
in a column, not by reading them, and a prune reads only the ids it keeps to find where to cut.
A reader that holds a revision older than ``feed_from`` is told ``None`` and reads every record
again.
"""

from __future__ import annotations

#: The fewest deleted ids a collection keeps (more while it holds more live records).
KEEP_DELETED = 10_000


def to_keep(kept: int, count: int, floor: int) -> int | None:
    """How many of the newest deleted ids to keep when a collection of ``count`` live records
    keeps ``kept``: ``None`` while that is within the bound (nothing to prune), else half the
    bound."""
    bound = max(count, floor)
    return None if kept <= bound else bound // 2
