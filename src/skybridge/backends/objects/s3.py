"""``s3://`` object store on boto3: AWS S3 and S3-compatible services, OCI's included.

``s3://bucket/optional/prefix?region=eu-west-1&endpoint_url=http://127.0.0.1:9000&create=true``

URL params / options: ``region``, ``endpoint_url``, ``profile``, ``create`` (create the bucket),
``compat=oci``, ``part_size`` (multipart threshold and part size, bytes, >= 5 MiB on AWS),
``max_concurrency``, ``page_size``, ``chunk_size``, ``connect_timeout``, ``read_timeout``,
``max_attempts``; option ``client`` takes a ready boto3 S3 client.

OCI's S3-compatible endpoint (``https://<ns>.compat.objectstorage.<region>.oraclecloud.com``)
rejects the flexible checksums boto3 >= 1.36 sends by default and wants path-style addressing:
for that host, or with ``?compat=oci``, checksums are only sent when an operation requires them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any, Self

from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from skybridge.backends.cloud.aws import boto3_client
from skybridge.backends.objects.base import (
    DEFAULT_CONTENT_TYPE,
    ListPage,
    ObjectInfo,
    ObjectStore,
    int_option,
)
from skybridge.backends.objects.s3_errors import error_code, s3_errors, translate_client_error
from skybridge.core.errors import ConfigError
from skybridge.core.urls import BackendURL

MIB = 1024 * 1024
#: Keys one ``DeleteObjects`` call removes at most (the S3 limit).
DELETE_BATCH = 1000
#: Error codes of a service without ``DeleteObjects``, or wanting the ``Content-MD5`` header
#: botocore no longer sends (it sends a CRC32 checksum): keys are then deleted one by one.
_NO_MULTI_DELETE = frozenset(
    {"NotImplemented", "MethodNotAllowed", "MissingContentMD5", "InvalidDigest"}
)
#: An ``InvalidRequest`` naming these is the same refusal (MinIO, Ceph); other ones are errors.
_CHECKSUM_WORDS = re.compile(r"content-?md5|checksum", re.IGNORECASE)


def _no_multi_delete(exc: ClientError) -> bool:
    """Whether ``DeleteObjects`` was refused as such, not for this request's keys."""
    code = error_code(exc)
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return code in _NO_MULTI_DELETE or (
        code == "InvalidRequest" and bool(_CHECKSUM_WORDS.search(message))
    )


_OCI_COMPAT_HOST = re.compile(
    r"^(?:https?://)?[^./]+\.compat\.objectstorage\.(?P<region>[a-z0-9-]+)\."
    r"(?:oraclecloud\.com|oci\.customer-oci\.com)(?::\d+)?/?$"
)


def is_oci_compat_endpoint(endpoint_url: str | None) -> bool:
    """True when ``endpoint_url`` is OCI Object Storage's S3-compatible endpoint."""
    return bool(endpoint_url and _OCI_COMPAT_HOST.match(endpoint_url.lower()))


def client_config(
    *,
    oci_compat: bool,
    region: str | None,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    max_attempts: int = 5,
) -> Config:
    """The botocore config for a store; ``oci_compat`` turns off default flexible checksums."""
    extra: dict[str, Any] = {}
    if oci_compat:
        extra = {
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
            "s3": {"addressing_style": "path"},
        }
    return Config(
        region_name=region,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        **extra,
    )


class S3ObjectStore(ObjectStore):
    """Objects in an S3 bucket, optionally under a key prefix."""

    scheme = "s3"
    capabilities = frozenset({"server_side_copy", "nested_prefixes"})

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        part_size: int = 8 * MIB,
        max_concurrency: int = 4,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._one_by_one = False
        self.transfer = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=max_concurrency,
        )

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        bucket, _, prefix = url.rest.partition("/")
        if not bucket:
            raise ConfigError("s3:// URL needs a bucket, e.g. s3://my-bucket/optional/prefix")
        endpoint = options.get("endpoint_url", url.params.get("endpoint_url"))
        # OCI's S3-compatible API documents no DeleteObjects: one by one there
        compat = options.get("compat", url.params.get("compat"))
        one_by_one = compat == "oci" or is_oci_compat_endpoint(endpoint)
        client = options.pop("client", None) or cls._make_client(url, options)
        store = cls(
            client,
            bucket,
            prefix,
            part_size=int_option(url, options, "part_size", 8 * MIB),
            max_concurrency=int_option(url, options, "max_concurrency", 4),
            page_size=int_option(url, options, "page_size", 1000),
            chunk_size=int_option(url, options, "chunk_size", MIB),
        )
        store._one_by_one = one_by_one
        if options.pop("create", url.flag("create")):
            store.create_bucket()
        return store

    @staticmethod
    def _make_client(url: BackendURL, options: dict[str, Any]) -> Any:
        endpoint = options.pop("endpoint_url", url.params.get("endpoint_url")) or None
        compat = options.pop("compat", url.params.get("compat", ""))
        if compat not in ("", "oci"):
            raise ConfigError(f"compat={compat!r} is unknown; the only value is compat=oci")
        oci_compat = compat == "oci" or is_oci_compat_endpoint(endpoint)
        region = options.pop("region", url.params.get("region")) or _region_of(endpoint)
        config = client_config(
            oci_compat=oci_compat,
            region=region,
            connect_timeout=float(
                options.pop("connect_timeout", url.params.get("connect_timeout", 10))
            ),
            read_timeout=float(options.pop("read_timeout", url.params.get("read_timeout", 60))),
            max_attempts=int_option(url, options, "max_attempts", 5),
        )
        return boto3_client(
            "s3",
            endpoint_url=endpoint,
            profile=options.pop("profile", url.params.get("profile")),
            config=config,
            setting="backends.objects",
        )

    def create_bucket(self) -> None:
        """Create the bucket unless this account already owns it."""
        region = self.client.meta.region_name
        args: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with s3_errors(self.bucket, ignore=frozenset({"BucketAlreadyOwnedByYou"})):
            self.client.create_bucket(**args)

    def _full(self, key: str) -> str:
        return self.prefix + key

    # -- primitives ----------------------------------------------------------------------------

    def _put(self, key: str, body: IO[bytes], content_type: str, metadata: dict[str, str]) -> None:
        extra = {"ContentType": content_type, "Metadata": metadata}
        with s3_errors(key):
            self.client.upload_fileobj(
                body, self.bucket, self._full(key), ExtraArgs=extra, Config=self.transfer
            )

    def _open(self, key: str, chunk_size: int) -> Iterator[bytes]:
        with s3_errors(key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
        return self._read(response["Body"], key, chunk_size)

    def _read(self, body: Any, key: str, chunk_size: int) -> Iterator[bytes]:
        try:
            with s3_errors(key):
                yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def _head(self, key: str) -> ObjectInfo:
        with s3_errors(key):
            head = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            etag=head["ETag"].strip('"'),
            last_modified=head["LastModified"],
            content_type=head.get("ContentType") or DEFAULT_CONTENT_TYPE,
            metadata=head.get("Metadata", {}),
        )

    def _list_page(
        self, prefix: str, delimiter: str | None, token: str | None, limit: int
    ) -> ListPage:
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self._full(prefix),
            "MaxKeys": limit,
        }
        if delimiter:
            args["Delimiter"] = delimiter
        if token:
            args["ContinuationToken"] = token
        with s3_errors(prefix or "/"):
            page = self.client.list_objects_v2(**args)
        cut = len(self.prefix)
        objects = [
            ObjectInfo(
                key=item["Key"][cut:],
                size=item["Size"],
                etag=item["ETag"].strip('"'),
                last_modified=item["LastModified"],
            )
            for item in page.get("Contents", [])
        ]
        prefixes = [p["Prefix"][cut:] for p in page.get("CommonPrefixes", [])]
        next_token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        return ListPage(objects, prefixes, next_token)

    def _delete(self, key: str) -> None:
        with s3_errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def _delete_many(self, keys: list[str]) -> None:
        """``DeleteObjects`` per 1,000 keys; one by one on a service without it (S3-compatible
        services may answer ``NotImplemented``)."""
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            if self._one_by_one or not self._delete_objects(batch):
                self._one_by_one = True
                super()._delete_many(batch)  # one DeleteObject per key

    def _delete_objects(self, batch: list[str]) -> bool:
        """One ``DeleteObjects`` call; ``False`` when the service refuses the call as such.

        Raises:
            SkybridgeError: the call failed, or refused a key (per-key refusals such as
                AccessDenied come in the answer, not as an error).
        """
        with s3_errors(batch[0]):
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self._full(k)} for k in batch], "Quiet": True},
                )
            except ClientError as exc:
                if _no_multi_delete(exc):
                    return False
                raise
        failed = answer.get("Errors") or []
        if failed:
            first = failed[0]
            error = ClientError(
                {"Error": {"Code": first.get("Code", ""), "Message": first.get("Message", "")}},
                "DeleteObjects",
            )
            key = str(first.get("Key", ""))[len(self.prefix) :]
            raise translate_client_error(error, key) from None
        return True

    def _copy(self, source: str, target: str) -> None:
        info = self._head(source)
        extra = {
            "ContentType": info.content_type or DEFAULT_CONTENT_TYPE,
            "Metadata": dict(info.metadata),
            "MetadataDirective": "REPLACE",
        }
        with s3_errors(source):
            self.client.copy(
                {"Bucket": self.bucket, "Key": self._full(source)},
                self.bucket,
                self._full(target),
                ExtraArgs=extra,
                Config=self.transfer,
            )

    def close(self) -> None:
        self.client.close()


def _region_of(endpoint: str | None) -> str | None:
    match = _OCI_COMPAT_HOST.match((endpoint or "").lower())
    return match.group("region") if match else None
