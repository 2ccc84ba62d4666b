"""``limit`` / ``page`` pagination with an ``opc-next-page`` header, as OCI list calls do."""

from __future__ import annotations

from typing import Any

from skybridge.testing.oci import errors
from skybridge.testing.oci.routing import Request, Response, json_response

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def page_of(request: Request, items: list[Any]) -> Response:
    """One page of ``items``; the page token is the offset of the next item."""
    limit = request.int_query("limit") or DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.invalid(f"limit must be between 1 and {MAX_LIMIT}")
    token = request.query.get("page")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise errors.invalid("page is not a token this service issued") from None
    chunk = items[start : start + limit]
    headers = {}
    if start + limit < len(items):
        headers["opc-next-page"] = str(start + limit)
    return json_response(chunk, headers=headers)
