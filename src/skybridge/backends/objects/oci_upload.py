"""Streaming multipart upload to OCI Object Storage with bounded memory.

The SDK's ``UploadManager.upload_stream`` is not used: when the source stream raises, it leaves
its thread pool running and the multipart upload open. Here a failing source aborts the upload
and the previous object stays untouched. At most ``concurrency`` parts are in memory at once.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, Any

from oci.object_storage.models import (
    CommitMultipartUploadDetails,
    CommitMultipartUploadPartDetails,
    CreateMultipartUploadDetails,
)


def read_exact(body: IO[bytes], size: int) -> bytes:
    """Read ``size`` bytes, fewer only at end of stream (raw streams may return short reads)."""
    parts: list[bytes] = []
    missing = size
    while missing > 0:
        chunk = body.read(missing)
        if not chunk:
            break
        parts.append(chunk)
        missing -= len(chunk)
    return b"".join(parts)


@dataclass
class MultipartUpload:
    """One object being uploaded in parts of ``part_size`` bytes."""

    client: Any
    namespace: str
    bucket: str
    name: str
    part_size: int
    concurrency: int = 4

    def run(self, first: bytes, body: IO[bytes], content_type: str, meta: dict[str, str]) -> None:
        """Upload ``first`` then the rest of ``body``; commit, or abort on any failure."""
        details = CreateMultipartUploadDetails(
            object=self.name,
            content_type=content_type,
            metadata={f"opc-meta-{k}": v for k, v in meta.items()},
        )
        created = self.client.create_multipart_upload(self.namespace, self.bucket, details)
        upload_id = created.data.upload_id
        try:
            etags = self._send_parts(upload_id, first, body)
            commit = CommitMultipartUploadDetails(
                parts_to_commit=[
                    CommitMultipartUploadPartDetails(part_num=n, etag=etag) for n, etag in etags
                ]
            )
            self.client.commit_multipart_upload(
                self.namespace, self.bucket, self.name, upload_id, commit
            )
        except BaseException:
            with suppress(Exception):
                self.client.abort_multipart_upload(
                    self.namespace, self.bucket, self.name, upload_id
                )
            raise

    def _send_parts(self, upload_id: str, first: bytes, body: IO[bytes]) -> list[tuple[int, str]]:
        sent: dict[int, Future[Any]] = {}
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="oci-part") as pool:
            number, part = 1, first
            while part:
                in_flight = [f for f in sent.values() if not f.done()]
                if len(in_flight) >= self.concurrency:
                    wait(in_flight, return_when=FIRST_COMPLETED)
                _raise_failed(sent.values())
                sent[number] = pool.submit(
                    self.client.upload_part,
                    self.namespace,
                    self.bucket,
                    self.name,
                    upload_id,
                    number,
                    part,
                )
                number += 1
                part = read_exact(body, self.part_size)
        return [(n, future.result().headers["etag"]) for n, future in sorted(sent.items())]


def _raise_failed(futures: Any) -> None:
    for future in futures:
        if future.done() and future.exception() is not None:
            future.result()
