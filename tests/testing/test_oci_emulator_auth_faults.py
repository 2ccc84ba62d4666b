"""Request signatures, fault and latency injection, call accounting."""

from __future__ import annotations

import base64
import email.utils
import time
from collections.abc import Callable, Iterator
from typing import Any

import oci
import pytest
import requests

from skybridge.testing.oci import OciEmulator

pytestmark = pytest.mark.oci
NO_RETRY = oci.retry.NoneRetryStrategy()


@pytest.fixture
def emu(oci_emulator: OciEmulator) -> Iterator[OciEmulator]:
    yield oci_emulator
    oci_emulator.faults.clear()


def client(emu: OciEmulator, kind: Callable[..., Any], *, wrong_key: bool = False) -> Any:
    cfg = emu.sdk_config(wrong_key=wrong_key)
    return kind(cfg, service_endpoint=emu.endpoint, retry_strategy=NO_RETRY)


def service_error(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        fn(*args, **kwargs)
    return caught.value


def new_secret(emu: OciEmulator, value: bytes = b"v") -> str:
    vault_id, key_id = emu.create_vault()
    details = oci.vault.models.CreateSecretDetails(
        compartment_id=emu.compartment_id,
        secret_name=f"auth-{time.monotonic_ns()}",
        vault_id=vault_id,
        key_id=key_id,
        secret_content=oci.vault.models.Base64SecretContentDetails(
            content_type="BASE64", content=base64.b64encode(value).decode()
        ),
    )
    return str(client(emu, oci.vault.VaultsClient).create_secret(details).data.id)


def test_sdk_config_is_valid() -> None:
    with OciEmulator() as emu:
        cfg = emu.sdk_config()
        oci.config.validate_config(cfg)
        oci.config.validate_config(emu.sdk_config(wrong_key=True))
        assert cfg["fingerprint"].count(":") == 15
        assert client(emu, oci.object_storage.ObjectStorageClient).get_namespace().data == (
            emu.namespace
        )


@pytest.mark.parametrize(
    ("kind", "call"),
    [
        (oci.object_storage.ObjectStorageClient, lambda c, e: c.get_namespace()),
        (oci.vault.VaultsClient, lambda c, e: c.list_secrets(e.compartment_id)),
        (oci.secrets.SecretsClient, lambda c, e: c.get_secret_bundle(new_secret(e))),
        (
            oci.ons.NotificationDataPlaneClient,
            lambda c, e: c.publish_message(
                e.create_topic("t"), oci.ons.models.MessageDetails(body="b")
            ),
        ),
    ],
)
def test_wrong_key_is_rejected_with_401(emu: OciEmulator, kind: Any, call: Any) -> None:
    error = service_error(call, client(emu, kind, wrong_key=True), emu)
    assert (error.status, error.code) == (401, "NotAuthenticated")
    call(client(emu, kind), emu)  # the right key passes the same call


def signed(emu: OciEmulator, method: str, path: str, body: bytes) -> requests.PreparedRequest:
    signer = oci.signer.Signer.from_config(emu.sdk_config())
    request = requests.Request(
        method, emu.endpoint + path, data=body, headers={"content-type": "application/json"}
    ).prepare()
    signer(request)
    return request


def test_tampered_body_is_rejected(emu: OciEmulator) -> None:
    secret_id = new_secret(emu)
    path = f"/20180608/secrets/{secret_id}"
    with requests.Session() as http:
        honest = http.send(signed(emu, "PUT", path, b'{"description": "ok"}'))
        assert honest.status_code == 200
        tampered = signed(emu, "PUT", path, b'{"description": "ok"}')
        tampered.body = b'{"description": "no"}'  # same length, different bytes
        answer = http.send(tampered)
    assert answer.status_code == 401
    assert answer.json()["code"] == "NotAuthenticated"
    assert "opc-request-id" in answer.headers


def test_unsigned_and_stale_requests_are_rejected(emu: OciEmulator) -> None:
    with requests.Session() as http:
        unsigned = http.get(f"{emu.endpoint}/n")
        assert (unsigned.status_code, unsigned.json()["code"]) == (401, "NotAuthenticated")
        stale = requests.Request("GET", f"{emu.endpoint}/n").prepare()
        stale.headers["date"] = email.utils.formatdate(time.time() - 3600, usegmt=True)
        oci.signer.Signer.from_config(emu.sdk_config())(stale)
        assert http.send(stale).status_code == 401


def test_unknown_route_is_404(emu: OciEmulator) -> None:
    with requests.Session() as http:
        answer = http.send(signed(emu, "POST", "/20180608/nothing-here", b"{}"))
    assert (answer.status_code, answer.json()["code"]) == (404, "NotAuthorizedOrNotFound")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "InvalidParameter"),
        (404, "NotAuthorizedOrNotFound"),
        (409, "Conflict"),
        (412, "PreconditionFailed"),
        (429, "TooManyRequests"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    ],
)
def test_injected_fault_surfaces_as_service_error(emu: OciEmulator, status: int, code: str) -> None:
    secret_id = new_secret(emu)
    secrets = client(emu, oci.secrets.SecretsClient)
    emu.faults.inject("GetSecretBundle", status)
    error = service_error(secrets.get_secret_bundle, secret_id)
    assert (error.status, error.code) == (status, code)
    assert secrets.get_secret_bundle(secret_id).data.version_number == 1


def test_fault_counts_down_and_takes_code_and_message(emu: OciEmulator) -> None:
    secret_id = new_secret(emu)
    vaults = client(emu, oci.vault.VaultsClient)
    emu.faults.inject("UpdateSecret", 409, times=2, code="IncorrectState", message="busy")
    details = oci.vault.models.UpdateSecretDetails(description="x")
    for _ in range(2):
        error = service_error(vaults.update_secret, secret_id, details)
        assert (error.status, error.code, error.message) == (409, "IncorrectState", "busy")
    assert vaults.update_secret(secret_id, details).data.description == "x"
    assert emu.faults.pending == 0


def test_wildcard_fault_hits_every_service(emu: OciEmulator) -> None:
    objects = client(emu, oci.object_storage.ObjectStorageClient)
    ons = client(emu, oci.ons.NotificationDataPlaneClient)
    topic = emu.create_topic("faulty")
    emu.faults.inject("*", 500, times=None)
    assert service_error(objects.get_namespace).status == 500
    message = oci.ons.models.MessageDetails(body="b")
    assert service_error(ons.publish_message, topic, message).status == 500
    emu.faults.clear()
    ons.publish_message(topic, message)
    assert len(emu.published(topic)) == 1


def test_fault_on_put_object(emu: OciEmulator) -> None:
    objects = client(emu, oci.object_storage.ObjectStorageClient)
    emu.create_bucket(f"faults-{time.monotonic_ns()}")
    bucket = sorted(emu.objects.buckets)[-1]
    emu.faults.inject("PutObject", 429)
    error = service_error(objects.put_object, emu.namespace, bucket, "o", b"data")
    assert (error.status, error.code) == (429, "TooManyRequests")
    objects.put_object(emu.namespace, bucket, "o", b"data")


def test_sdk_default_retry_recovers_from_one_throttle(emu: OciEmulator) -> None:
    secret_id = new_secret(emu)
    secrets = oci.secrets.SecretsClient(emu.sdk_config(), service_endpoint=emu.endpoint)
    emu.reset_calls()
    emu.faults.inject("GetSecretBundle", 429)
    assert secrets.get_secret_bundle(secret_id).data.version_number == 1
    assert emu.calls["GetSecretBundle"] == 2


def test_latency_injection(emu: OciEmulator) -> None:
    objects = client(emu, oci.object_storage.ObjectStorageClient)
    emu.faults.delay("GetNamespace", 1.0, times=1)
    started = time.perf_counter()
    objects.get_namespace()
    assert time.perf_counter() - started >= 1.0
    started = time.perf_counter()
    objects.get_namespace()
    assert time.perf_counter() - started < 1.0  # times=1: only the first call was delayed


def test_calls_are_counted_per_operation_and_reset(emu: OciEmulator) -> None:
    objects = client(emu, oci.object_storage.ObjectStorageClient)
    emu.reset_calls()
    objects.get_namespace()
    objects.get_namespace()
    service_error(client(emu, oci.object_storage.ObjectStorageClient, wrong_key=True).get_namespace)
    assert emu.calls["GetNamespace"] == 3
    emu.reset_calls()
    assert sum(emu.calls.values()) == 0


def test_bad_fault_status_is_refused(emu: OciEmulator) -> None:
    with pytest.raises(ValueError, match="error status"):
        emu.faults.inject("GetNamespace", 200)
