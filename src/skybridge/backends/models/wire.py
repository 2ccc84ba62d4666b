"""What the HTTP model backends share: answers classified into skybridge errors, and the
request bodies of the common wire formats."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from skybridge.backends.models.base import Row
from skybridge.core.errors import (
    NotFound,
    SkybridgeError,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.core.secret import scrub

#: Characters of a service's error body repeated in our errors.
DETAIL_CHARS = 300


def status_error(
    where: str, status: int, body: str, retry_after: float | None = None
) -> SkybridgeError:
    """The error for an HTTP answer ``status`` (>= 300) from the model at ``where``."""
    detail = scrub(" ".join(body.split())[:DETAIL_CHARS])
    text = f"model {where} answered {status}" + (f": {detail}" if detail else "")
    if status in (408, 425, 429) or status >= 500:
        return TransientError(text, retry_after=retry_after)
    if status == 404:
        return NotFound(text, hint="check the model or endpoint name in the model URL")
    if status in (400, 415, 422):
        return ValidationError(text)
    if status in (401, 403):
        return TerminalError(text, hint="check the credentials the model URL uses")
    return TerminalError(text)


def retry_after_header(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def csv_body(rows: list[Row]) -> bytes:
    """``text/csv`` rows, no header (SageMaker's built-in algorithms); missing is empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else repr(v) for v in row])
    return out.getvalue().encode()


def parse_csv_predictions(text: str) -> list[Any]:
    """One prediction per line (or per comma-separated value on a single line)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) == 1 and "," in lines[0]:
        lines = lines[0].split(",")
    return [_number_or_text(line.strip()) for line in lines]


def _number_or_text(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


def json_predictions(data: Any, keys: tuple[str, ...] = ("predictions", "prediction")) -> Any:
    """The prediction list of a JSON answer: a list, or the first of ``keys`` in an object."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in keys:
            if key in data:
                return data[key]
    raise TerminalError(
        f"the model's JSON answer has none of {', '.join(keys)}: {json.dumps(data)[:200]}"
    )


def plain(value: Any) -> Any:
    """``{"score": x}`` style predictions of one value as the value itself."""
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value.values()))
    return value
