"""List routes that answer one page: the total and the next page in response headers.

A list route keeps its body a plain list and says how many there are in ``X-Total-Count``,
with a ``Link`` (``rel="next"``) to the page after this one when its items stop before the
total (routes that take ``offset``). Declare ``responses=PAGED`` so the OpenAPI document names
the headers.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "X-Total-Count": {
                "description": "How many there are in all",
                "schema": {"type": "integer"},
            },
            "Link": {
                "description": 'The next page, as `<url>; rel="next"`, when there is one',
                "schema": {"type": "string"},
            },
        }
    }
}


def page_headers(
    request: Request, response: Response, total: int, end: int, *, next_link: bool = True
) -> None:
    """``X-Total-Count``, and (with ``next_link``) a ``Link`` to the page after this one when
    ``end`` (the offset after this page's last item) is below ``total``."""
    response.headers["X-Total-Count"] = str(total)
    if next_link and end < total:
        following = request.url.include_query_params(offset=end)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
