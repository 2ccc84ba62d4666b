"""How names reach generated SQL: always quoted, or reduced to a safe shape first.

An assertion's name comes from the user and may hold any character a quoted identifier can
(``CREATE ASSERTION "no-neg" ...``). It reaches SQL in three ways, each made safe here:

* as an identifier (the PostgreSQL constraint trigger): :func:`quote_ident`;
* as a string literal (messages, catalog rows): :func:`quote_literal`;
* inside the name of a trigger or function: :func:`object_name` keeps only ``[a-z0-9_]`` and
  adds a digest of the full name, so distinct names never share objects.

Function bodies are dollar-quoted with a tag that does not occur in the body
(:func:`dollar_quote`), so no text inside can end the body early.
"""

from __future__ import annotations

import hashlib
import re

from skybridge.core.errors import ValidationError

MAX_NAME = 50
_UNSAFE = re.compile(r"[^a-z0-9_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_name(name: str) -> str:
    """``name`` if it can name an assertion; a :class:`ValidationError` saying why not."""
    if not name.strip():
        raise ValidationError("an assertion name cannot be empty")
    if len(name) > MAX_NAME:
        raise ValidationError(f"assertion name {name!r} is longer than {MAX_NAME} characters")
    if _CONTROL.search(name):
        raise ValidationError(
            f"assertion name {name!r} holds a control character",
            hint="use letters, digits, spaces and punctuation",
        )
    return name


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (PostgreSQL and SQLite)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def object_name(name: str, *parts: str, limit: int | None = None) -> str:
    """A trigger/function name for ``name`` and ``parts``: ``sba_<safe name>_<digest>``.

    Only lowercase letters, digits and ``_`` survive, so the result is a plain identifier;
    the digest of the full name and parts keeps it unique. ``limit`` shortens the name part
    (PostgreSQL truncates identifiers at 63 bytes).
    """
    joined = "/".join((name, *parts)).encode()
    digest = hashlib.sha1(joined, usedforsecurity=False).hexdigest()[:8]
    safe = _UNSAFE.sub("_", name.lower())[:limit]
    return f"sba_{safe}_{digest}"


def dollar_quote(body: str, tag: str = "sba") -> str:
    """``body`` between ``$tag$`` markers; ``$tag`` occurs nowhere in the body.

    Checking ``$tag`` rather than ``$tag$`` also rules out a body ending in ``$tag``, which
    would close early against the final marker.
    """
    candidate, n = tag, 0
    while f"${candidate}" in body:
        n += 1
        candidate = f"{tag}{n}"
    return f"${candidate}${body}${candidate}$"
