"""``oci://`` object store on the native OCI SDK (``oci.object_storage.ObjectStorageClient``).

``oci://bucket@namespace/optional/prefix?region=eu-frankfurt-1&profile=DEFAULT``

The namespace may be left out (``oci://bucket/prefix``): it is then asked from the service.
Credentials and endpoint: see :mod:`skybridge.backends.objects.oci_auth`. Other URL params /
options: ``part_size`` (multipart threshold and part size, default 10 MiB), ``max_concurrency``,
``page_size``, ``chunk_size``, ``max_attempts`` (SDK retries, 1 = none), ``create`` with optional
``compartment`` (defaults to the tenancy); option ``client`` takes a ready ObjectStorageClient.
Delimiters other than ``/`` are refused: the service supports only ``/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import IO, Any, Self

from oci.object_storage.models import CreateBucketDetails

from skybridge.backends.objects.base import (
    DEFAULT_CONTENT_TYPE,
    ListPage,
    ObjectInfo,
    ObjectStore,
    int_option,
)
from skybridge.backends.objects.oci_auth import object_storage_client
from skybridge.backends.objects.oci_errors import BUCKET_GONE, oci_errors
from skybridge.backends.objects.oci_upload import MultipartUpload, read_exact
from skybridge.core.errors import ConfigError, NotFound, ValidationError
from skybridge.core.urls import BackendURL

MIB = 1024 * 1024
_META = "opc-meta-"
_LIST_FIELDS = "name,size,etag,timeCreated,timeModified"


class OciObjectStore(ObjectStore):
    """Objects in an OCI Object Storage bucket, optionally under a key prefix."""

    scheme = "oci"
    capabilities = frozenset({"nested_prefixes"})

    def __init__(
        self,
        client: Any,
        bucket: str,
        namespace: str | None = None,
        prefix: str = "",
        *,
        part_size: int = 10 * MIB,
        max_concurrency: int = 4,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.client = client
        self.bucket = bucket
        with oci_errors("namespace"):
            self.namespace = namespace or str(client.get_namespace().data)
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size = part_size
        self.max_concurrency = max_concurrency

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        location, _, prefix = url.rest.partition("/")
        bucket, _, namespace = location.partition("@")
        if not bucket:
            raise ConfigError("oci:// URL needs a bucket, e.g. oci://bucket@namespace/prefix")
        create = options.pop("create", url.flag("create"))
        compartment = options.pop("compartment", url.params.get("compartment"))
        client = options.pop("client", None) or object_storage_client(url, options)
        store = cls(
            client,
            bucket,
            namespace or None,
            prefix,
            part_size=int_option(url, options, "part_size", 10 * MIB),
            max_concurrency=int_option(url, options, "max_concurrency", 4),
            page_size=int_option(url, options, "page_size", 1000),
            chunk_size=int_option(url, options, "chunk_size", MIB),
        )
        if create:
            store.create_bucket(compartment or client.base_client.config.get("tenancy"))
        return store

    def create_bucket(self, compartment_id: str) -> None:
        """Create the bucket in ``compartment_id`` unless it exists already."""
        details = CreateBucketDetails(name=self.bucket, compartment_id=compartment_id)
        try:
            with oci_errors(self.bucket):
                self.client.create_bucket(self.namespace, details)
        except Exception as exc:
            if getattr(exc.__cause__, "code", None) != "BucketAlreadyExists":
                raise

    def _name(self, key: str) -> str:
        return self.prefix + key

    # -- primitives ----------------------------------------------------------------------------

    def _put(self, key: str, body: IO[bytes], content_type: str, metadata: dict[str, str]) -> None:
        first = read_exact(body, self.part_size)
        with oci_errors(key):
            if len(first) < self.part_size:
                self.client.put_object(
                    self.namespace,
                    self.bucket,
                    self._name(key),
                    first,
                    content_type=content_type,
                    opc_meta=metadata,
                )
                return
            upload = MultipartUpload(
                self.client,
                self.namespace,
                self.bucket,
                self._name(key),
                self.part_size,
                self.max_concurrency,
            )
            upload.run(first, body, content_type, metadata)

    def _open(self, key: str, chunk_size: int) -> Iterator[bytes]:
        with oci_errors(key):
            response = self.client.get_object(self.namespace, self.bucket, self._name(key))
        return self._read(response.data, key, chunk_size)

    def _read(self, stream: Any, key: str, chunk_size: int) -> Iterator[bytes]:
        try:
            with oci_errors(key):
                yield from stream.raw.stream(chunk_size, decode_content=False)
        finally:
            stream.close()

    def _head(self, key: str) -> ObjectInfo:
        with oci_errors(key):
            headers = self.client.head_object(self.namespace, self.bucket, self._name(key)).headers
        return ObjectInfo(
            key=key,
            size=int(headers["content-length"]),
            etag=headers["etag"].strip('"'),
            last_modified=parsedate_to_datetime(headers["last-modified"]),
            content_type=headers.get("content-type") or DEFAULT_CONTENT_TYPE,
            metadata={
                name[len(_META) :]: value
                for name, value in headers.items()
                if name.lower().startswith(_META)
            },
        )

    def _list_page(
        self, prefix: str, delimiter: str | None, token: str | None, limit: int
    ) -> ListPage:
        if delimiter not in (None, "/"):
            raise ValidationError("OCI Object Storage lists only with delimiter '/' or none")
        with oci_errors(prefix or "/"):
            page = self.client.list_objects(
                self.namespace,
                self.bucket,
                prefix=self._name(prefix),
                start=token,
                limit=min(limit, 1000),
                delimiter=delimiter,
                fields=_LIST_FIELDS,
            ).data
        cut = len(self.prefix)
        objects = [
            ObjectInfo(
                key=item.name[cut:],
                size=int(item.size),
                etag=str(item.etag).strip('"'),
                last_modified=item.time_modified or item.time_created,
            )
            for item in page.objects or []
        ]
        prefixes = [p[cut:] for p in page.prefixes or []]
        return ListPage(objects, prefixes, page.next_start_with or None)

    def _delete(self, key: str) -> None:
        try:
            with oci_errors(key):
                self.client.delete_object(self.namespace, self.bucket, self._name(key))
        except NotFound as exc:
            if getattr(exc.__cause__, "code", None) in BUCKET_GONE:
                raise

    def close(self) -> None:
        self.client.base_client.session.close()
