"""The two clouds' object stores a batch moves files through.

``aws_objects`` (S3) and ``oci_objects`` (OCI Object Storage, native or through its S3
endpoint) are object-store URLs; left unset, both are ``backends.objects`` under the prefixes
``datasync/aws/`` and ``datasync/oci/``, so the embedded default needs no cloud at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from skybridge.backends import objects
from skybridge.backends.objects import ObjectStore
from skybridge.core.errors import NotFound

DIGEST = "sb-sha256"


@dataclass
class Side:
    """One cloud's object store, with keys under ``prefix``."""

    name: str
    store: ObjectStore
    prefix: str = ""

    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` with its SHA-256 in the metadata; the digest."""
        digest = hashlib.sha256(data).hexdigest()
        self.store.put(self.prefix + key, data, content_type="text/csv", metadata={DIGEST: digest})
        return digest

    def get(self, key: str) -> bytes:
        return self.store.get(self.prefix + key)

    def digest(self, key: str) -> str | None:
        """The recorded SHA-256 of ``key``; ``None`` when it is missing."""
        try:
            info = self.store.head(self.prefix + key)
        except NotFound:
            return None
        return dict(info.metadata).get(DIGEST)

    def keys(self, prefix: str) -> Iterator[str]:
        for key in self.store.keys(self.prefix + prefix):
            yield key[len(self.prefix) :]

    def close(self) -> None:
        self.store.close()


def open_side(name: str, url: str | None, default: ObjectStore | None) -> Side:
    """The side ``name`` from its URL, else ``default`` under ``datasync/<name>/``."""
    if url:
        return Side(name, objects.connect(url, setting=f"datasync.{name}_objects"))
    if default is None:
        raise NotFound(f"no object store for the {name} side")
    return Side(name, default, f"datasync/{name}/")
