"""Multipart uploads (``/n/{ns}/b/{bucket}/u``), enough for the SDK's ``UploadManager``."""

from __future__ import annotations

import uuid
from typing import Any

from skybridge.testing.oci import errors
from skybridge.testing.oci.errors import ApiError
from skybridge.testing.oci.ids import http_date, rfc3339
from skybridge.testing.oci.objectstorage import MAX_PARTS, ObjectStore, Part, Upload
from skybridge.testing.oci.objectstorage_api import ObjectStorageApi, check_conditions, check_md5
from skybridge.testing.oci.paging import page_of
from skybridge.testing.oci.routing import Request, Response, Router, json_response

U = "/n/{namespaceName}/b/{bucketName}/u"


def upload_json(store: ObjectStore, bucket: str, upload: Upload) -> dict[str, Any]:
    return {
        "namespace": store.namespace,
        "bucket": bucket,
        "object": upload.object,
        "uploadId": upload.id,
        "timeCreated": rfc3339(upload.created),
        "storageTier": "Standard",
    }


class MultipartApi:
    def __init__(self, objects: ObjectStorageApi) -> None:
        self.objects = objects
        self.store = objects.store

    def register(self, router: Router) -> None:
        router.add("POST", U, "CreateMultipartUpload", self.create)
        router.add("GET", U, "ListMultipartUploads", self.list_uploads)
        router.add("PUT", U + "/{objectName}", "UploadPart", self.upload_part, signs_body=False)
        router.add("POST", U + "/{objectName}", "CommitMultipartUpload", self.commit)
        router.add("DELETE", U + "/{objectName}", "AbortMultipartUpload", self.abort)
        router.add("GET", U + "/{objectName}", "ListMultipartUploadParts", self.list_parts)

    def _upload(self, request: Request) -> Upload:
        upload_id = request.query.get("uploadId")
        if not upload_id:
            raise errors.missing("uploadId")
        return self.objects.bucket(request).upload(upload_id, request.params["objectName"])

    def create(self, request: Request) -> Response:
        bucket = self.objects.bucket(request)
        body = request.json()
        if not body.get("object"):
            raise errors.missing("object")
        check_conditions(request, bucket.objects.get(body["object"]))
        upload = Upload(
            id=str(uuid.uuid4()),
            object=body["object"],
            created=self.store.clock.now(),
            content_type=body.get("contentType") or "application/octet-stream",
            metadata={
                k.removeprefix("opc-meta-"): v for k, v in (body.get("metadata") or {}).items()
            },
        )
        bucket.uploads[upload.id] = upload
        return json_response(upload_json(self.store, bucket.name, upload))

    def list_uploads(self, request: Request) -> Response:
        bucket = self.objects.bucket(request)
        uploads = sorted(bucket.uploads.values(), key=lambda u: (u.object, u.created))
        return page_of(request, [upload_json(self.store, bucket.name, u) for u in uploads])

    def upload_part(self, request: Request) -> Response:
        upload = self._upload(request)
        number = request.int_query("uploadPartNum")
        if number is None or not 1 <= number <= MAX_PARTS:
            raise errors.invalid(f"uploadPartNum must be between 1 and {MAX_PARTS}")
        md5 = check_md5(request)
        part = Part(request.body, str(uuid.uuid4()), md5)
        upload.parts[number] = part
        return Response(200, headers={"etag": part.etag, "opc-content-md5": md5})

    def commit(self, request: Request) -> Response:
        bucket = self.objects.bucket(request)
        upload = self._upload(request)
        check_conditions(request, bucket.objects.get(upload.object))
        body = request.json()
        excluded = set(body.get("partsToExclude") or [])
        try:
            parts = [
                (int(p["partNum"]), str(p["etag"]))
                for p in body.get("partsToCommit") or []
                if int(p["partNum"]) not in excluded
            ]
        except (KeyError, TypeError, ValueError):
            raise ApiError(
                400, "InvalidParameter", "partsToCommit entries need partNum and etag"
            ) from None
        stored = self.store.commit(bucket, upload, parts)
        headers = {
            "etag": stored.etag,
            "opc-multipart-md5": stored.md5,
            "last-modified": http_date(stored.modified),
        }
        return Response(200, headers=headers)

    def abort(self, request: Request) -> Response:
        upload = self._upload(request)
        del self.objects.bucket(request).uploads[upload.id]
        return Response(204)

    def list_parts(self, request: Request) -> Response:
        upload = self._upload(request)
        parts = [
            {"partNumber": n, "etag": p.etag, "md5": p.md5, "size": len(p.data)}
            for n, p in sorted(upload.parts.items())
        ]
        return page_of(request, parts)
