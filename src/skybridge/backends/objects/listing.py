"""Listing helpers for backends without native delimiter support."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def group_keys(
    keys: Iterable[str], prefix: str, delimiter: str | None
) -> Iterator[tuple[str, bool]]:
    """Roll sorted ``keys`` up by ``delimiter`` the way S3 does; yield ``(key, is_prefix)``.

    A key whose remainder after ``prefix`` contains ``delimiter`` becomes the common prefix
    ``prefix + remainder[: end of first delimiter]``, yielded once (sorted input keeps the
    members of one group adjacent).
    """
    previous: str | None = None
    for key in keys:
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                group = key[: cut + len(delimiter)]
                if group != previous:
                    previous = group
                    yield group, True
                continue
        yield key, False
