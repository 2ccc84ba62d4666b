"""The ``s3://`` object store against the moto server, plus OCI-compat client configuration."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from skybridge.backends.objects import connect
from skybridge.backends.objects.s3 import S3ObjectStore, client_config, is_oci_compat_endpoint
from skybridge.backends.objects.s3_errors import translate_client_error
from skybridge.core.errors import (
    ConfigError,
    Conflict,
    NotFound,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.testing.contracts.objects import BIG_OBJECT_BYTES, ObjectsContract, pattern_chunks

pytestmark = pytest.mark.moto

BUCKET = "skybridge-objects"
OCI_ENDPOINT = "https://axaxnpcrorw5.compat.objectstorage.eu-frankfurt-1.oraclecloud.com"
FIVE_MIB = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def s3_client(moto_server: Any) -> Iterator[Any]:
    client = boto3.client("s3", endpoint_url=moto_server.url, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    client.close()


def _store(moto_server: Any, s3_client: Any, query: str = "", **options: Any) -> S3ObjectStore:
    url = f"s3://{BUCKET}/t-{uuid.uuid4().hex[:8]}?page_size=3&part_size={FIVE_MIB}{query}"
    store = connect(url, client=s3_client, **options)
    assert isinstance(store, S3ObjectStore)
    return store


class TestS3(ObjectsContract):
    @pytest.fixture
    def objects(self, moto_server: Any, s3_client: Any) -> S3ObjectStore:
        return _store(moto_server, s3_client)


@pytest.fixture(scope="module")
def oci_compat_client(moto_server: Any) -> Iterator[Any]:
    config = client_config(oci_compat=True, region="us-east-1")
    client = boto3.client("s3", endpoint_url=moto_server.url, config=config)
    yield client
    client.close()


class TestS3OciCompat(ObjectsContract):
    """The whole contract with the client configured as for OCI's S3-compatible endpoint."""

    @pytest.fixture
    def objects(self, moto_server: Any, oci_compat_client: Any) -> S3ObjectStore:
        return _store(moto_server, oci_compat_client)


def test_big_upload_is_multipart(moto_server: Any, s3_client: Any) -> None:
    store = _store(moto_server, s3_client)
    store.put("big", pattern_chunks(BIG_OBJECT_BYTES))
    assert store.head("big").etag.endswith("-3")  # 12 MB in 5 MiB parts
    store.copy("big", "big-copy")
    assert store.head("big-copy").size == BIG_OBJECT_BYTES


def test_prefix_is_the_store_root(moto_server: Any, s3_client: Any) -> None:
    store = _store(moto_server, s3_client)
    store.put("inner/key", b"x", metadata={"a": "b"})
    raw = s3_client.head_object(Bucket=BUCKET, Key=f"{store.prefix}inner/key")
    assert raw["Metadata"] == {"a": "b"}
    assert store.prefix.startswith("t-")
    assert store.prefix.endswith("/")
    assert [e.key for e in store.list()] == ["inner/key"]


def test_url_builds_its_own_client_and_creates_the_bucket(moto_server: Any) -> None:
    bucket = f"created-{uuid.uuid4().hex[:8]}"
    with connect(f"s3://{bucket}?endpoint_url={moto_server.url}&region=eu-west-1&create=1") as s:
        s.put("k", b"v")
        assert s.get("k") == b"v"
        assert s.client.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
    again = connect(f"s3://{bucket}?endpoint_url={moto_server.url}&region=eu-west-1&create=1")
    assert again.get("k") == b"v"  # creating an owned bucket again is fine


def test_missing_bucket_says_so(moto_server: Any) -> None:
    store = connect(f"s3://no-such-bucket-here?endpoint_url={moto_server.url}")
    with pytest.raises(NotFound, match="bucket does not exist"):
        store.put("k", b"v")
    with pytest.raises(ConfigError, match="bucket does not exist"):  # not "absent"
        store.exists("k")


def test_unreachable_endpoint_is_transient() -> None:
    store = connect(
        "s3://b?endpoint_url=http://127.0.0.1:9&region=us-east-1"
        "&connect_timeout=0.2&read_timeout=0.2&max_attempts=1"
    )
    with pytest.raises(TransientError, match="unreachable"):
        store.get("k")


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("NoSuchKey", 404, NotFound),
        ("SlowDown", 503, TransientError),
        ("InternalError", 500, TransientError),
        ("AccessDenied", 403, TerminalError),
        ("EntityTooLarge", 400, TerminalError),
        ("PreconditionFailed", 412, Conflict),
        ("KeyTooLongError", 400, ValidationError),
    ],
)
def test_client_errors_are_translated(code: str, status: int, error: type[Exception]) -> None:
    exc = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )
    assert type(translate_client_error(exc, "k")) is error


# -- OCI's S3-compatible endpoint ------------------------------------------------------------


def _sent_headers(store: S3ObjectStore) -> list[dict[str, str]]:
    sent: list[dict[str, str]] = []
    store.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    return sent


def _checksum_headers(headers: dict[str, str]) -> set[str]:
    return {h.lower() for h in headers if "checksum" in h.lower()}


def test_oci_compat_sends_no_flexible_checksums(moto_server: Any) -> None:
    base = f"s3://{BUCKET}/compat?endpoint_url={moto_server.url}&region=us-east-1"
    plain, oci = connect(base), connect(base + "&compat=oci")
    plain_sent, oci_sent = _sent_headers(plain), _sent_headers(oci)
    plain.put("a", b"payload")
    oci.put("b", b"payload", metadata={"k": "v"})
    assert _checksum_headers(plain_sent[0])  # boto3 >= 1.36 default, which OCI rejects
    assert _checksum_headers(oci_sent[0]) == set()
    assert oci.get("b") == b"payload"
    assert dict(oci.head("b").metadata) == {"k": "v"}


def test_oci_endpoint_is_detected_and_configured() -> None:
    store = connect(f"s3://MyBucket/pre?endpoint_url={OCI_ENDPOINT}")
    assert isinstance(store, S3ObjectStore)
    config = store.client.meta.config
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.s3["addressing_style"] == "path"
    assert store.client.meta.region_name == "eu-frankfurt-1"
    url = store.client.generate_presigned_url("get_object", {"Bucket": "MyBucket", "Key": "k"})
    assert url.startswith(f"{OCI_ENDPOINT}/MyBucket/k?")


def test_aws_endpoint_keeps_default_checksums() -> None:
    store = connect("s3://bucket?region=us-east-1")
    assert isinstance(store, S3ObjectStore)
    assert store.client.meta.config.request_checksum_calculation == "when_supported"


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (OCI_ENDPOINT, True),
        ("https://ns.compat.objectstorage.us-ashburn-1.oraclecloud.com/", True),
        ("https://s3.eu-west-1.amazonaws.com", False),
        ("https://compat.objectstorage.example.com", False),
        (None, False),
    ],
)
def test_oci_compat_endpoint_detection(endpoint: str | None, expected: bool) -> None:
    assert is_oci_compat_endpoint(endpoint) is expected


# -- DeleteObjects ---------------------------------------------------------------------------


def _stubbed(query: str = "") -> tuple[S3ObjectStore, Stubber]:
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    store = connect(f"s3://{BUCKET}/pre{query}", client=client)
    assert isinstance(store, S3ObjectStore)
    return store, Stubber(client)


def _delete_request(*keys: str) -> dict[str, Any]:
    objects = [{"Key": f"pre/{k}"} for k in keys]
    return {"Bucket": BUCKET, "Delete": {"Objects": objects, "Quiet": True}}


@pytest.mark.parametrize(
    ("code", "error"), [("AccessDenied", TerminalError), ("SlowDown", TransientError)]
)
def test_a_key_delete_objects_refuses_is_an_error_naming_it(
    code: str, error: type[Exception]
) -> None:
    store, stub = _stubbed()
    refused = {"Key": "pre/b", "Code": code, "Message": "no"}
    stub.add_response("delete_objects", {"Errors": [refused]}, _delete_request("a", "b"))
    with stub, pytest.raises(error, match=f"{code} on 'b'"):
        store.delete_many(["a", "b"])
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("NotImplemented", 501, ""),
        ("MissingContentMD5", 400, ""),
        ("InvalidRequest", 400, "Missing required header for this request: Content-Md5."),
    ],
)
def test_a_service_without_delete_objects_gets_one_delete_per_key(
    code: str, status: int, message: str
) -> None:
    store, stub = _stubbed()
    stub.add_client_error("delete_objects", code, message, http_status_code=status)
    for key in ("a", "b"):
        stub.add_response("delete_object", {}, {"Bucket": BUCKET, "Key": f"pre/{key}"})
    stub.add_response("delete_object", {}, {"Bucket": BUCKET, "Key": "pre/c"})  # no retry of it
    with stub:
        store.delete_many(["a", "b"])
        store.delete_many(["c"])
    stub.assert_no_pending_responses()


def test_oci_compat_deletes_one_by_one_from_the_start() -> None:
    """OCI's S3-compatible API documents no DeleteObjects."""
    store, stub = _stubbed("?compat=oci")
    for key in ("a", "b"):
        stub.add_response("delete_object", {}, {"Bucket": BUCKET, "Key": f"pre/{key}"})
    with stub:
        store.delete_many(["a", "b"])
    stub.assert_no_pending_responses()


def test_another_invalid_request_is_an_error_and_multi_delete_stays() -> None:
    store, stub = _stubbed()
    stub.add_client_error("delete_objects", "InvalidRequest", "bad key list", http_status_code=400)
    stub.add_response("delete_objects", {}, _delete_request("c"))
    with stub:
        with pytest.raises(TerminalError, match="InvalidRequest"):
            store.delete_many(["a", "b"])
        store.delete_many(["c"])
    stub.assert_no_pending_responses()


def test_delete_many_sends_one_delete_objects_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    from skybridge.backends.objects import s3 as s3_module

    monkeypatch.setattr(s3_module, "DELETE_BATCH", 10)
    store, stub = _stubbed()
    keys = [f"k{n:02d}" for n in range(25)]
    for start in (0, 10, 20):
        stub.add_response("delete_objects", {}, _delete_request(*keys[start : start + 10]))
    with stub:
        store.delete_many(keys)
    stub.assert_no_pending_responses()
