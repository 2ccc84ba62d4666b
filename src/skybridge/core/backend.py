"""What every backend of every family has in common."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

from skybridge.core.urls import BackendURL


class Backend(ABC):
    """Root of all backend classes.

    A backend is built from a URL by its family's registry (``from_url``), declares its optional
    features in ``capabilities`` and can be probed by ``skybridge check`` (``ping``).
    """

    #: Optional features this implementation supports, e.g. ``{"ttl", "transactions"}``.
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: Whether the URL may carry a password (``user:password@``: a server's login: Redis,
    #: PostgreSQL, Kafka SASL, SMTP...). Where it may not (a region, table, bucket, OCID or path
    #: follows the scheme), the registry refuses such a URL, so that a password put there is
    #: never read as a name and repeated in that name's error messages. (``name@`` without a
    #: password stays: ``oci://bucket@namespace``.)
    url_credentials: ClassVar[bool] = False

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    @classmethod
    @abstractmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        """Build the backend from its parsed URL and keyword options."""

    @abstractmethod
    def ping(self) -> None:
        """Reach the backend once; raise a ``SkybridgeError`` explaining what is wrong."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release connections and files."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
