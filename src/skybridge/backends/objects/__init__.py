"""Object stores: ``file://`` (local folder), ``s3://`` (S3 and S3-compatible, OCI's included)
and ``oci://`` (OCI Object Storage, native SDK).

    store = skybridge.backends.objects.connect("s3://my-bucket/exports?region=eu-west-1")
    store.put("reports/q1.csv", b"...", content_type="text/csv")
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.objects.base import (
    Body,
    CommonPrefix,
    ListEntry,
    ListPage,
    ObjectInfo,
    ObjectStore,
)
from skybridge.backends.objects.keys import validate_key, validate_metadata
from skybridge.core.registry import Registry

registry: Registry[ObjectStore] = Registry("objects", ObjectStore)  # type: ignore[type-abstract]
registry.register("file", "skybridge.backends.objects.file:FileObjectStore")
registry.register("s3", "skybridge.backends.objects.s3:S3ObjectStore", extra="aws")
registry.register("oci", "skybridge.backends.objects.oci:OciObjectStore", extra="oci")


def connect(url: str, *, setting: str | None = "backends.objects", **options: Any) -> ObjectStore:
    """Build the object store ``url`` names, e.g. ``file://.skybridge/objects``."""
    return registry.connect(url, setting=setting, **options)


__all__ = [
    "Body",
    "CommonPrefix",
    "ListEntry",
    "ListPage",
    "ObjectInfo",
    "ObjectStore",
    "connect",
    "registry",
    "validate_key",
    "validate_metadata",
]
