"""The ``oci://`` object store (native SDK) against the skybridge OCI emulator."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from skybridge.backends.objects import connect
from skybridge.backends.objects.oci import OciObjectStore
from skybridge.core.errors import (
    ConfigError,
    NotFound,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.testing.contracts.objects import BIG_OBJECT_BYTES, ObjectsContract, pattern_chunks

pytestmark = pytest.mark.oci

BUCKET = "skybridge-objects"
PART = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def oci_client(oci_emulator: Any) -> Any:
    return oci_emulator.object_storage_client(BUCKET)


def _store(emu: Any, client: Any, **options: Any) -> OciObjectStore:
    url = f"oci://{BUCKET}@{emu.namespace}/t-{uuid.uuid4().hex[:8]}?page_size=3&part_size={PART}"
    store = connect(url, client=client, **options)
    assert isinstance(store, OciObjectStore)
    return store


class TestOci(ObjectsContract):
    @pytest.fixture
    def objects(self, oci_emulator: Any, oci_client: Any) -> OciObjectStore:
        return _store(oci_emulator, oci_client)


def test_big_upload_is_multipart(oci_emulator: Any, oci_client: Any) -> None:
    store = _store(oci_emulator, oci_client)
    before = oci_emulator.calls["UploadPart"]
    store.put("big", pattern_chunks(BIG_OBJECT_BYTES), metadata={"k": "v"})
    assert oci_emulator.calls["UploadPart"] - before == 3  # 12 MB in 4 MiB parts
    head = oci_client.head_object(oci_emulator.namespace, BUCKET, f"{store.prefix}big")
    assert head.headers["opc-multipart-md5"].endswith("-3")
    assert dict(store.head("big").metadata) == {"k": "v"}


def test_failed_source_aborts_the_multipart_upload(oci_emulator: Any, oci_client: Any) -> None:
    store = _store(oci_emulator, oci_client)

    def broken() -> Any:
        yield from pattern_chunks(PART * 2)
        raise RuntimeError("source died")

    with pytest.raises(RuntimeError, match="source died"):
        store.put("half", broken())
    uploads = oci_client.list_multipart_uploads(oci_emulator.namespace, BUCKET).data
    assert [u.object for u in uploads if u.object.startswith(store.prefix)] == []
    assert not store.exists("half")


def test_url_with_config_file_and_profile(oci_emulator: Any, tmp_path: Path) -> None:
    config = oci_emulator.write_config(tmp_path, profile="EMU")
    url = (
        f"oci://{BUCKET}/from-file?config_file={config}&profile=EMU"
        f"&endpoint={oci_emulator.endpoint}"
    )
    with connect(url) as store:
        assert store.namespace == oci_emulator.namespace  # asked from the service
        store.put("k", b"v")
        assert store.get("k") == b"v"


def test_url_with_config_option_creates_the_bucket(oci_emulator: Any) -> None:
    bucket = f"Created-{uuid.uuid4().hex[:6]}"
    url = f"oci://{bucket}@{oci_emulator.namespace}?create=true"
    config = oci_emulator.sdk_config()
    with connect(url, config=config, service_endpoint=oci_emulator.endpoint) as store:
        store.put("k", b"v")
    again = connect(url, config=config, service_endpoint=oci_emulator.endpoint)
    assert again.get("k") == b"v"


def test_missing_bucket_says_so(oci_emulator: Any, oci_client: Any) -> None:
    store = connect(f"oci://nope@{oci_emulator.namespace}", client=oci_client)
    with pytest.raises(NotFound, match="bucket"):
        store.delete("k")
    with pytest.raises(NotFound, match="bucket"):
        store.put("k", b"v")
    # HEAD answers a bare 404 for a missing bucket as for a missing object: exists() said
    # "absent" for every key of a bucket that is not there.
    with pytest.raises(ConfigError, match="bucket"):
        store.exists("k")
    with pytest.raises(ConfigError, match="bucket"):
        store.head("k")


def test_a_missing_object_of_a_bucket_that_exists_is_checked_once(
    oci_emulator: Any, oci_client: Any
) -> None:
    store = connect(f"oci://{BUCKET}@{oci_emulator.namespace}", client=oci_client)
    oci_emulator.reset_calls()
    assert not store.exists("nothing-here-1")
    assert not store.exists("nothing-here-2")
    assert oci_emulator.calls["ListObjects"] == 1


def test_wrong_key_is_terminal(oci_emulator: Any) -> None:
    store = connect(
        f"oci://{BUCKET}@{oci_emulator.namespace}?max_attempts=1",
        config=oci_emulator.sdk_config(wrong_key=True),
        service_endpoint=oci_emulator.endpoint,
    )
    with pytest.raises(TerminalError, match="401"):
        store.get("k")


@pytest.mark.parametrize(
    ("status", "error"), [(429, TransientError), (503, TransientError), (403, TerminalError)]
)
def test_injected_faults_are_translated(
    oci_emulator: Any, status: int, error: type[Exception]
) -> None:
    store = connect(
        f"oci://{BUCKET}@{oci_emulator.namespace}?max_attempts=1",
        config=oci_emulator.sdk_config(),
        service_endpoint=oci_emulator.endpoint,
    )
    store.put("k", b"v")
    oci_emulator.faults.inject("GetObject", status)
    with pytest.raises(error, match=str(status)):
        store.get("k")
    assert store.get("k") == b"v"


def test_sdk_retries_absorb_a_transient_fault(oci_emulator: Any) -> None:
    store = connect(
        f"oci://{BUCKET}@{oci_emulator.namespace}?max_attempts=3",
        config=oci_emulator.sdk_config(),
        service_endpoint=oci_emulator.endpoint,
    )
    store.put("k", b"v")
    oci_emulator.faults.inject("HeadObject", 503)
    assert store.head("k").size == 1


def test_unreachable_endpoint_is_transient(oci_emulator: Any) -> None:
    store = connect(
        "oci://b@ns?max_attempts=1&connect_timeout=0.2&read_timeout=0.2",
        config=oci_emulator.sdk_config(),
        service_endpoint="http://127.0.0.1:9",
    )
    with pytest.raises(TransientError, match="unreachable"):
        store.get("k")


def test_credentials_problems_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OCI_RESOURCE_PRINCIPAL_VERSION", raising=False)
    with pytest.raises(ConfigError, match="resource principal"):
        connect("oci://b@ns?auth=resource_principal")
    with pytest.raises(ConfigError, match="OCI client configuration"):
        connect(f"oci://b@ns?config_file={tmp_path}/missing-config")
    with pytest.raises(ConfigError, match="OCI client configuration"):
        connect("oci://b@ns", config={"region": "us-ashburn-1"})


def test_bad_auth_mode_and_non_slash_delimiter(oci_emulator: Any, oci_client: Any) -> None:
    with pytest.raises(ConfigError, match="auth"):
        connect("oci://b@ns?auth=magic")
    store = _store(oci_emulator, oci_client)
    with pytest.raises(ValidationError, match="delimiter"):
        list(store.list(delimiter="-"))
