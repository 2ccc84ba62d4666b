"""Request limits an app's route declares: the largest body it accepts.

The service caps every request body at ``server.max_body_bytes`` (1 MiB by default) while it
streams in, before any of it is parsed. A route that takes larger bodies says so with a
route-level dependency, which the service reads before the first byte of the body::

    from fastapi import Depends
    from skybridge.apps.kit.limits import MiB, BodyLimit

    @router.post("/upload", dependencies=[Depends(BodyLimit(16 * MiB))])
    def upload(body: Upload) -> Receipt: ...

Declare it on the route (``dependencies=[...]`` of the route or of its ``APIRouter``), not as an
endpoint parameter: the service looks only at route-level dependencies. The largest declared
limit wins when several apply.
"""

from __future__ import annotations

KiB = 1024
MiB = 1024 * KiB


class BodyLimit:
    """A route dependency: this route accepts request bodies of up to ``max_bytes`` bytes.

    Args:
        max_bytes: The largest body the route accepts, in bytes (at least 1).

    Raises:
        ValueError: ``max_bytes`` is not a positive integer.
    """

    def __init__(self, max_bytes: int) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"BodyLimit needs a positive number of bytes, not {max_bytes!r}")
        self.max_bytes = max_bytes

    async def __call__(self) -> None:
        """Nothing to do per request: the service enforces the limit while reading the body."""

    def __repr__(self) -> str:
        return f"BodyLimit({self.max_bytes})"


def list_or_all(items: list[str] | None, every: bool, field: str) -> None:
    """Refuse a request body that names both or neither of a non-empty ``field`` list and
    ``all=true`` (call it from the body model's ``model_validator``).

    Raises:
        ValueError: which pydantic reports as a 422 naming the rule.
    """
    if bool(items) == every:
        raise ValueError(f"give a non-empty '{field}' list or all=true (one of them)")
