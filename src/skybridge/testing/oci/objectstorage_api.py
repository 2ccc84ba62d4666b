"""Object Storage API (``/n/{namespaceName}/...``): namespace, buckets and objects."""

from __future__ import annotations

from typing import Any

from skybridge.testing.oci import errors
from skybridge.testing.oci.errors import ApiError
from skybridge.testing.oci.ids import http_date, rfc3339
from skybridge.testing.oci.object_listing import list_objects
from skybridge.testing.oci.objectstorage import Bucket, ObjectStore, StoredObject, md5_b64
from skybridge.testing.oci.paging import page_of
from skybridge.testing.oci.routing import Request, Response, Router, json_response

META = "opc-meta-"
B = "/n/{namespaceName}/b"
OBJECT = B + "/{bucketName}/o/{objectName}"


def bucket_json(store: ObjectStore, bucket: Bucket, *, summary: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "namespace": store.namespace,
        "name": bucket.name,
        "compartmentId": bucket.compartment_id,
        "createdBy": "ocid1.user.oc1..emulator",
        "timeCreated": rfc3339(bucket.created),
        "etag": bucket.etag,
        "freeformTags": {},
        "definedTags": {},
    }
    if not summary:
        data |= {
            "id": bucket.id,
            "metadata": bucket.metadata,
            "publicAccessType": "NoPublicAccess",
            "storageTier": "Standard",
            "objectEventsEnabled": False,
            "versioning": "Disabled",
            "replicationEnabled": False,
            "isReadOnly": False,
            "approximateCount": len(bucket.objects),
            "approximateSize": sum(len(o.data) for o in bucket.objects.values()),
        }
    return data


def object_headers(stored: StoredObject) -> dict[str, str]:
    headers = {
        "etag": stored.etag,
        "last-modified": http_date(stored.modified),
        "content-type": stored.content_type,
        "accept-ranges": "bytes",
        "storage-tier": "Standard",
    }
    headers["opc-multipart-md5" if stored.multipart else "content-md5"] = stored.md5
    headers |= {META + key: value for key, value in stored.metadata.items()}
    return headers


def check_md5(request: Request) -> str:
    """The body's MD5; a ``content-md5`` header that disagrees is a 400 as in the service."""
    actual = md5_b64(request.body)
    sent = request.headers.get("content-md5")
    if sent is not None and sent != actual:
        raise ApiError(
            400,
            "UnmatchedContentMD5",
            f"The computed MD5 of the request body ({actual}) does not match "
            f"the Content-MD5 header ({sent})",
        )
    return actual


def check_conditions(request: Request, existing: StoredObject | None) -> None:
    if_match = request.headers.get("if-match")
    if if_match and (existing is None or if_match not in ("*", existing.etag)):
        raise ApiError(412, "IfMatchFailed", "The if-match precondition failed")
    if request.headers.get("if-none-match") == "*" and existing is not None:
        raise ApiError(412, "IfNoneMatchFailed", "The object already exists")


def metadata_from(request: Request) -> dict[str, str]:
    return {k[len(META) :]: v for k, v in request.headers.items() if k.startswith(META)}


class ObjectStorageApi:
    """Binds namespace, bucket and object operations; multipart lives in :mod:`multipart_api`."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def register(self, router: Router) -> None:
        router.add("GET", "/n", "GetNamespace", self.get_namespace)
        router.add("POST", B, "CreateBucket", self.create_bucket)
        router.add("GET", B, "ListBuckets", self.list_buckets)
        router.add("GET", B + "/{bucketName}", "GetBucket", self.get_bucket)
        router.add("HEAD", B + "/{bucketName}", "HeadBucket", self.get_bucket)
        router.add("DELETE", B + "/{bucketName}", "DeleteBucket", self.delete_bucket)
        router.add("GET", B + "/{bucketName}/o", "ListObjects", self.list_objects)
        router.add("PUT", OBJECT, "PutObject", self.put_object, signs_body=False)
        router.add("GET", OBJECT, "GetObject", self.get_object)
        router.add("HEAD", OBJECT, "HeadObject", self.head_object)
        router.add("DELETE", OBJECT, "DeleteObject", self.delete_object)

    def bucket(self, request: Request) -> Bucket:
        self.store.check_namespace(request.params["namespaceName"])
        return self.store.bucket(request.params["bucketName"])

    def get_namespace(self, request: Request) -> Response:
        return json_response(self.store.namespace)

    def create_bucket(self, request: Request) -> Response:
        self.store.check_namespace(request.params["namespaceName"])
        body = request.json()
        for required in ("name", "compartmentId"):
            if not body.get(required):
                raise errors.missing(required)
        bucket = self.store.create_bucket(
            body["name"], body["compartmentId"], body.get("metadata") or {}
        )
        location = f"/n/{self.store.namespace}/b/{bucket.name}"
        headers = {"etag": bucket.etag, "location": location}
        return json_response(bucket_json(self.store, bucket), headers=headers)

    def list_buckets(self, request: Request) -> Response:
        self.store.check_namespace(request.params["namespaceName"])
        compartment = request.query.get("compartmentId")
        if not compartment:
            raise errors.missing("compartmentId")
        found = sorted(
            (b for b in self.store.buckets.values() if b.compartment_id == compartment),
            key=lambda b: b.name,
        )
        return page_of(request, [bucket_json(self.store, b, summary=True) for b in found])

    def get_bucket(self, request: Request) -> Response:
        bucket = self.bucket(request)
        return json_response(bucket_json(self.store, bucket), headers={"etag": bucket.etag})

    def delete_bucket(self, request: Request) -> Response:
        self.store.check_namespace(request.params["namespaceName"])
        self.store.delete_bucket(request.params["bucketName"])
        return Response(204)

    def list_objects(self, request: Request) -> Response:
        return json_response(
            list_objects(self.bucket(request), request.query, request.int_query("limit"))
        )

    def put_object(self, request: Request) -> Response:
        bucket = self.bucket(request)
        name = request.params["objectName"]
        md5 = check_md5(request)
        check_conditions(request, bucket.objects.get(name))
        content_type = request.headers.get("content-type") or "application/octet-stream"
        stored = self.store.put(
            bucket, name, request.body, content_type, metadata_from(request), md5
        )
        headers = {
            "etag": stored.etag,
            "opc-content-md5": md5,
            "last-modified": http_date(stored.modified),
        }
        return Response(200, headers=headers)

    def _read(self, request: Request) -> StoredObject:
        stored = self.bucket(request).object(request.params["objectName"])
        if_match = request.headers.get("if-match")
        if if_match and if_match != stored.etag:
            raise ApiError(412, "IfMatchFailed", "The if-match precondition failed")
        return stored

    def head_object(self, request: Request) -> Response:
        stored = self._read(request)
        headers = object_headers(stored) | {"content-length": str(len(stored.data))}
        return Response(200, headers=headers)

    def get_object(self, request: Request) -> Response:
        stored = self._read(request)
        headers = object_headers(stored)
        byte_range = request.headers.get("range")
        if not byte_range:
            return Response(200, stored.data, headers)
        first, last = parse_range(byte_range, len(stored.data))
        headers["content-range"] = f"bytes {first}-{last}/{len(stored.data)}"
        return Response(206, stored.data[first : last + 1], headers)

    def delete_object(self, request: Request) -> Response:
        bucket = self.bucket(request)
        name = request.params["objectName"]
        stored = bucket.object(name)
        if_match = request.headers.get("if-match")
        if if_match and if_match != stored.etag:
            raise ApiError(412, "IfMatchFailed", "The if-match precondition failed")
        del bucket.objects[name]
        return Response(204, headers={"last-modified": http_date(self.store.clock.now())})


def parse_range(value: str, size: int) -> tuple[int, int]:
    """``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` as inclusive offsets; others are a 416."""
    unsatisfiable = ApiError(416, "InvalidRange", f"The range {value!r} cannot be satisfied")
    unit, _, spec = value.partition("=")
    if unit.strip() != "bytes" or "," in spec or "-" not in spec:
        raise unsatisfiable
    start_text, end_text = (part.strip() for part in spec.split("-", 1))
    try:
        if start_text == "":
            first, last = max(size - int(end_text), 0), size - 1
        else:
            first = int(start_text)
            last = min(int(end_text), size - 1) if end_text else size - 1
    except ValueError:
        raise unsatisfiable from None
    if first > last or first >= size:
        raise unsatisfiable
    return first, last
