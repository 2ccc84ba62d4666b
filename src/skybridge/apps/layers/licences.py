"""Licences from package metadata: ``License-Expression`` (PEP 639), else a short ``License``
field, else the ``License ::`` trove classifiers."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from email.message import Message
from typing import Any

MAX_LICENSE_FIELD = 80


def licence_of(metadata: Message | Any) -> str | None:
    """The licence a distribution declares, or ``None`` when it declares none."""
    expression = metadata.get("License-Expression")
    if expression:
        return str(expression).strip()
    field = str(metadata.get("License") or "").strip()
    if (
        field
        and field.upper() != "UNKNOWN"
        and len(field) <= MAX_LICENSE_FIELD
        and "\n" not in field
    ):
        return field
    classifiers = [
        str(c).rsplit("::", 1)[-1].strip()
        for c in metadata.get_all("Classifier") or []
        if str(c).startswith("License ::") and str(c).count("::") >= 2
    ]
    if classifiers:
        return " OR ".join(dict.fromkeys(classifiers))
    return (
        field.splitlines()[0][:MAX_LICENSE_FIELD] if field and field.upper() != "UNKNOWN" else None
    )


def denied(licence: str | None, patterns: Iterable[str]) -> str | None:
    """The first pattern (``GPL-3.0*``, case-insensitive glob) ``licence`` matches."""
    if licence is None:
        return None
    for pattern in patterns:
        if fnmatch.fnmatch(licence.lower(), pattern.lower()):
            return pattern
    return None
