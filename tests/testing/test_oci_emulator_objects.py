"""Object Storage through the real oci SDK (ObjectStorageClient, UploadManager)."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import oci
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybridge.testing.oci import OciEmulator

pytestmark = pytest.mark.oci
NO_RETRY = oci.retry.NoneRetryStrategy()
MiB = 1024 * 1024


@pytest.fixture
def objects(oci_emulator: OciEmulator) -> Any:
    cfg = oci_emulator.sdk_config()
    return oci.object_storage.ObjectStorageClient(
        cfg, service_endpoint=oci_emulator.endpoint, retry_strategy=NO_RETRY
    )


@pytest.fixture
def bucket(oci_emulator: OciEmulator, objects: Any) -> str:
    name = f"b-{uuid.uuid4().hex[:10]}"
    details = oci.object_storage.models.CreateBucketDetails(
        name=name, compartment_id=oci_emulator.compartment_id
    )
    objects.create_bucket(oci_emulator.namespace, details)
    return name


def service_error(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        fn(*args, **kwargs)
    return caught.value


def test_namespace_and_bucket_lifecycle(oci_emulator: OciEmulator, objects: Any) -> None:
    ns = objects.get_namespace().data
    assert ns == oci_emulator.namespace
    compartment = f"ocid1.compartment.oc1..{uuid.uuid4().hex}"
    a, b, c = (f"{uuid.uuid4().hex[:8]}-{n}" for n in "abc")
    for name in (a, b, c):
        details = oci.object_storage.models.CreateBucketDetails(
            name=name, compartment_id=compartment
        )
        assert objects.create_bucket(ns, details).data.name == name
    listed = oci.pagination.list_call_get_all_results(
        objects.list_buckets, ns, compartment, limit=2
    )
    assert [b.name for b in listed.data] == sorted([a, b, c])
    assert objects.get_bucket(ns, a).data.compartment_id == compartment
    again = oci.object_storage.models.CreateBucketDetails(name=a, compartment_id=compartment)
    assert service_error(objects.create_bucket, ns, again).status == 409
    objects.put_object(ns, b, "x", b"1")
    error = service_error(objects.delete_bucket, ns, b)
    assert (error.status, error.code) == (409, "BucketNotEmpty")
    objects.delete_bucket(ns, a)
    error = service_error(objects.get_bucket, ns, a)
    assert (error.status, error.code) == (404, "BucketNotFound")


def test_put_get_head_delete(oci_emulator: OciEmulator, objects: Any, bucket: str) -> None:
    ns = oci_emulator.namespace
    body = b"hello object storage"
    put = objects.put_object(
        ns, bucket, "dir/a b+c.txt", body, content_type="text/plain", opc_meta={"owner": "me"}
    )
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    assert put.headers["opc-content-md5"] == md5
    got = objects.get_object(ns, bucket, "dir/a b+c.txt")
    assert got.data.content == body
    assert (got.headers["etag"], got.headers["content-md5"]) == (put.headers["etag"], md5)
    assert (got.headers["content-type"], got.headers["opc-meta-owner"]) == ("text/plain", "me")
    head = objects.head_object(ns, bucket, "dir/a b+c.txt")
    assert int(head.headers["content-length"]) == len(body)
    objects.delete_object(ns, bucket, "dir/a b+c.txt")
    error = service_error(objects.head_object, ns, bucket, "dir/a b+c.txt")
    assert error.status == 404
    error = service_error(objects.get_object, ns, bucket, "dir/a b+c.txt")
    assert (error.status, error.code) == (404, "ObjectNotFound")


def test_range_read(oci_emulator: OciEmulator, objects: Any, bucket: str) -> None:
    ns = oci_emulator.namespace
    objects.put_object(ns, bucket, "r", b"0123456789")
    assert objects.get_object(ns, bucket, "r", range="bytes=2-5").data.content == b"2345"
    tail = objects.get_object(ns, bucket, "r", range="bytes=-3")
    assert (tail.status, tail.data.content) == (206, b"789")
    assert tail.headers["content-range"] == "bytes 7-9/10"
    assert service_error(objects.get_object, ns, bucket, "r", range="bytes=50-60").status == 416


def test_content_md5_and_conditions(oci_emulator: OciEmulator, objects: Any, bucket: str) -> None:
    ns = oci_emulator.namespace
    good = base64.b64encode(hashlib.md5(b"abc", usedforsecurity=False).digest()).decode()
    objects.put_object(ns, bucket, "m", b"abc", content_md5=good)
    error = service_error(objects.put_object, ns, bucket, "m", b"abd", content_md5=good)
    assert (error.status, error.code) == (400, "UnmatchedContentMD5")
    assert objects.get_object(ns, bucket, "m").data.content == b"abc"
    error = service_error(objects.put_object, ns, bucket, "m", b"new", if_none_match="*")
    assert error.status == 412
    etag = objects.head_object(ns, bucket, "m").headers["etag"]
    objects.put_object(ns, bucket, "m", b"v2", if_match=etag)
    assert service_error(objects.put_object, ns, bucket, "m", b"v3", if_match=etag).status == 412


def test_wrong_namespace_is_404(objects: Any, bucket: str) -> None:
    error = service_error(objects.get_bucket, "not-my-namespace", bucket)
    assert (error.status, error.code) == (404, "NamespaceNotFound")
    error = service_error(objects.put_object, "not-my-namespace", bucket, "o", b"x")
    assert error.status == 404


def test_list_prefix_delimiter_fields(oci_emulator: OciEmulator, objects: Any, bucket: str) -> None:
    ns = oci_emulator.namespace
    for name in ("a/1", "a/2", "a/sub/3", "b", "c/4", "ca"):
        objects.put_object(ns, bucket, name, name.encode())
    top = objects.list_objects(ns, bucket, delimiter="/").data
    assert ([o.name for o in top.objects], top.prefixes) == (["b", "ca"], ["a/", "c/"])
    inner = objects.list_objects(
        ns, bucket, prefix="a/", delimiter="/", fields="name,size,md5"
    ).data
    assert [(o.name, o.size) for o in inner.objects] == [("a/1", 3), ("a/2", 3)]
    assert inner.prefixes == ["a/sub/"]
    assert (
        inner.objects[0].md5
        == base64.b64encode(hashlib.md5(b"a/1", usedforsecurity=False).digest()).decode()
    )
    assert inner.objects[0].etag is None  # not asked for
    window = objects.list_objects(ns, bucket, start="a/2", end="c/4").data
    assert [o.name for o in window.objects] == ["a/2", "a/sub/3", "b"]
    after = objects.list_objects(ns, bucket, start_after="b", fields="name,etag,timeCreated").data
    assert [o.name for o in after.objects] == ["c/4", "ca"]
    assert after.objects[0].etag
    assert after.objects[0].time_created


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.sets(
        st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=12).filter(
            lambda n: n.strip() and n.strip(".")  # the SDK refuses blank names; "." / ".." too
        ),
        min_size=1,
        max_size=9,
    ),
    limit=st.integers(1, 4),
)
def test_pagination_returns_every_name_once(
    oci_emulator: OciEmulator, objects: Any, names: set[str], limit: int
) -> None:
    ns = oci_emulator.namespace
    bucket = oci_emulator.create_bucket(f"p-{uuid.uuid4().hex[:10]}").name
    for name in names:
        objects.put_object(ns, bucket, name, b"x")
    seen: list[str] = []
    start = None
    while True:
        page = objects.list_objects(ns, bucket, limit=limit, start=start).data
        seen += [o.name for o in page.objects]
        if page.next_start_with is None:
            break
        start = page.next_start_with
    assert seen == sorted(names)


def test_multipart_upload_with_upload_manager(
    oci_emulator: OciEmulator, objects: Any, bucket: str, tmp_path: Path
) -> None:
    ns = oci_emulator.namespace
    payload = os.urandom(2 * MiB + 12345)
    source = tmp_path / "big.bin"
    source.write_bytes(payload)
    oci_emulator.reset_calls()
    manager = oci.object_storage.UploadManager(objects, parallel_process_count=3)
    answer = manager.upload_file(ns, bucket, "big.bin", str(source), part_size=MiB)
    assert answer.headers["opc-multipart-md5"].endswith("-3")
    assert oci_emulator.calls["UploadPart"] == 3
    assert oci_emulator.calls["CommitMultipartUpload"] == 1
    assert objects.get_object(ns, bucket, "big.bin").data.content == payload
    small = tmp_path / "small.bin"
    small.write_bytes(b"tiny")
    manager.upload_file(ns, bucket, "small.bin", str(small), part_size=MiB)
    assert oci_emulator.calls["PutObject"] == 1


def test_multipart_list_and_abort(oci_emulator: OciEmulator, objects: Any, bucket: str) -> None:
    ns = oci_emulator.namespace
    details = oci.object_storage.models.CreateMultipartUploadDetails(object="parts")
    upload = objects.create_multipart_upload(ns, bucket, details).data
    objects.upload_part(ns, bucket, "parts", upload.upload_id, 1, b"part one")
    assert [u.upload_id for u in objects.list_multipart_uploads(ns, bucket).data] == [
        upload.upload_id
    ]
    parts = objects.list_multipart_upload_parts(ns, bucket, "parts", upload.upload_id).data
    assert [(p.part_number, p.size) for p in parts] == [(1, 8)]
    bogus = oci.object_storage.models.CommitMultipartUploadDetails(
        parts_to_commit=[
            oci.object_storage.models.CommitMultipartUploadPartDetails(part_num=1, etag="wrong")
        ]
    )
    commit = objects.commit_multipart_upload
    assert service_error(commit, ns, bucket, "parts", upload.upload_id, bogus).status == 400
    objects.abort_multipart_upload(ns, bucket, "parts", upload.upload_id)
    assert objects.list_multipart_uploads(ns, bucket).data == []
    error = service_error(objects.upload_part, ns, bucket, "parts", upload.upload_id, 2, b"x")
    assert (error.status, error.code) == (404, "NoSuchUpload")
