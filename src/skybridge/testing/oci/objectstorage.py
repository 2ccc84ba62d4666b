"""Object Storage state: buckets, objects and multipart uploads in one namespace."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field

from skybridge.core.clock import Clock
from skybridge.testing.oci.errors import ApiError
from skybridge.testing.oci.ids import etag_of, ocid

MAX_PARTS = 10000


def os_not_found(code: str, what: str) -> ApiError:
    return ApiError(404, code, f"{what} does not exist or you are not authorized to access it")


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


@dataclass
class StoredObject:
    data: bytes
    etag: str
    md5: str  # base64 MD5, or "<base64 md5 of part md5s>-<parts>" after a multipart commit
    created: float
    modified: float
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)  # opc-meta-* without the prefix
    multipart: bool = False


@dataclass
class Part:
    data: bytes
    etag: str
    md5: str


@dataclass
class Upload:
    id: str
    object: str
    created: float
    content_type: str
    metadata: dict[str, str]
    parts: dict[int, Part] = field(default_factory=dict)


@dataclass
class Bucket:
    name: str
    compartment_id: str
    created: float
    id: str
    metadata: dict[str, str] = field(default_factory=dict)
    objects: dict[str, StoredObject] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return etag_of(self.id)

    def object(self, name: str) -> StoredObject:
        found = self.objects.get(name)
        if found is None:
            raise os_not_found("ObjectNotFound", f"The object '{name}' in bucket '{self.name}'")
        return found

    def upload(self, upload_id: str, object_name: str) -> Upload:
        found = self.uploads.get(upload_id)
        if found is None or found.object != object_name:
            raise os_not_found("NoSuchUpload", f"The upload '{upload_id}'")
        return found


class ObjectStore:
    """Buckets of one namespace; every method raises :class:`ApiError` the way the service does."""

    def __init__(self, namespace: str, clock: Clock, region: str) -> None:
        self.namespace = namespace
        self.clock = clock
        self.region = region
        self.buckets: dict[str, Bucket] = {}

    def check_namespace(self, namespace: str) -> None:
        if namespace != self.namespace:
            raise os_not_found("NamespaceNotFound", f"Either the namespace '{namespace}'")

    def bucket(self, name: str) -> Bucket:
        found = self.buckets.get(name)
        if found is None:
            raise os_not_found("BucketNotFound", f"Either the bucket named '{name}'")
        return found

    def create_bucket(self, name: str, compartment_id: str, metadata: dict[str, str]) -> Bucket:
        if name in self.buckets:
            raise ApiError(409, "BucketAlreadyExists", f"Bucket '{name}' already exists")
        bucket = Bucket(
            name, compartment_id, self.clock.now(), ocid("bucket", self.region), metadata
        )
        self.buckets[name] = bucket
        return bucket

    def delete_bucket(self, name: str) -> None:
        bucket = self.bucket(name)
        if bucket.objects or bucket.uploads:
            raise ApiError(409, "BucketNotEmpty", f"Bucket named '{name}' is not empty")
        del self.buckets[name]

    def put(
        self,
        bucket: Bucket,
        name: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str],
        md5: str | None = None,
        *,
        multipart: bool = False,
    ) -> StoredObject:
        now = self.clock.now()
        previous = bucket.objects.get(name)
        stored = StoredObject(
            data=data,
            etag=str(uuid.uuid4()),
            md5=md5 or md5_b64(data),
            created=previous.created if previous else now,
            modified=now,
            content_type=content_type,
            metadata=metadata,
            multipart=multipart,
        )
        bucket.objects[name] = stored
        return stored

    def commit(self, bucket: Bucket, upload: Upload, parts: list[tuple[int, str]]) -> StoredObject:
        """Assemble the listed parts (number, etag) in order into the object."""
        if not parts:
            raise ApiError(400, "InvalidParameter", "partsToCommit must list at least one part")
        chosen: list[Part] = []
        for number, etag in sorted(parts):
            part = upload.parts.get(number)
            if part is None or part.etag != etag:
                raise ApiError(
                    400, "InvalidParameter", f"Part {number} with etag {etag} was not uploaded"
                )
            chosen.append(part)
        digests = b"".join(base64.b64decode(part.md5) for part in chosen)
        md5 = f"{md5_b64(digests)}-{len(chosen)}"
        data = b"".join(part.data for part in chosen)
        del bucket.uploads[upload.id]
        return self.put(
            bucket, upload.object, data, upload.content_type, upload.metadata, md5, multipart=True
        )
