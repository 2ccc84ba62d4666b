"""``AssertionViolation`` and the translation of driver errors that carry an assertion's message.

``AssertionViolation`` is a :class:`~skybridge.core.errors.Conflict`: the statement is well formed
(so not a ValidationError) but conflicts with the current data, exactly like a unique-key
violation, which the error tree already files under Conflict (HTTP 409). Retrying does not help
unless the data changes. Serialization failures (SQLSTATE 40001) and deadlocks (40P01) raised
by the concurrency protocol become :class:`~skybridge.core.errors.TransientError`: retry the
transaction.
"""

from __future__ import annotations

import json
import re
from typing import Any

from skybridge.core.errors import Conflict, TransientError

_MESSAGE = re.compile(r'^assertion "(.*)" violated$', re.DOTALL)
_RETRYABLE = {"40001", "40P01"}


class AssertionViolation(Conflict):
    """A write would leave the assertion ``name`` false; ``rows`` are the violating rows found."""

    def __init__(self, name: str, rows: list[dict[str, Any]] | None = None) -> None:
        self.name = name
        self.rows = rows or []
        shown = f": {json.dumps(self.rows[:3], default=str)}" if self.rows else ""
        super().__init__(f'assertion "{name}" violated{shown}')


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)


def _rows_from_detail(detail: str | None) -> list[dict[str, Any]]:
    if not detail or not detail.startswith("violating rows: "):
        return []
    try:
        parsed = json.loads("[" + detail.removeprefix("violating rows: ") + "]")
    except json.JSONDecodeError:
        return []
    return [r for r in parsed if isinstance(r, dict)]


def translate_error(exc: BaseException, pending: list[str] | None = None) -> BaseException:
    """The skybridge error for a driver (or SQLAlchemy-wrapped) error, or ``exc`` itself.

    ``pending`` names the assertions left in the SQLite ledger when a COMMIT failed on its
    deferred foreign key (the driver's message says only "FOREIGN KEY constraint failed").
    """
    native = getattr(exc, "orig", None) or exc
    state = _sqlstate(native)
    if state in _RETRYABLE:
        return TransientError(f"transaction must be retried (SQLSTATE {state}): {native}")
    diag = getattr(native, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(native)
    match = _MESSAGE.search(primary.strip())
    if match:
        return AssertionViolation(
            match.group(1), _rows_from_detail(getattr(diag, "message_detail", None))
        )
    if pending and "FOREIGN KEY constraint failed" in str(native):
        return AssertionViolation(pending[0])
    return exc
