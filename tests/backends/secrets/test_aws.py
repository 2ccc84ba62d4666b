"""aws-sm:// against the moto server: the contract, plus AWS-specific behaviour."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from skybridge.backends import secrets as secrets_family
from skybridge.backends.secrets.aws import AwsSecretsManager
from skybridge.core.errors import Conflict, TransientError, ValidationError
from skybridge.core.secret import Secret
from skybridge.testing.contracts.secrets import SecretsContract
from skybridge.testing.servers import RunningServer

pytestmark = pytest.mark.moto


@pytest.fixture(scope="module")
def store(moto_server: RunningServer) -> Iterator[AwsSecretsManager]:
    backend = secrets_family.connect(f"aws-sm://us-east-1?endpoint_url={moto_server.url}")
    assert isinstance(backend, AwsSecretsManager)
    with backend:
        yield backend


class TestAws(SecretsContract):
    @pytest.fixture
    def secrets(self, store: AwsSecretsManager) -> AwsSecretsManager:
        return store


def _count_calls(store: AwsSecretsManager) -> dict[str, int]:
    counts: dict[str, int] = {}

    def count(model: Any, **_: Any) -> None:
        counts[model.name] = counts.get(model.name, 0) + 1

    store.client.meta.events.register("before-call.secretsmanager", count)
    return counts


def test_batch_get_uses_batch_api_20_per_call(store: AwsSecretsManager) -> None:
    run = uuid.uuid4().hex[:8]
    names = [f"batch-{run}-{i}" for i in range(45)]
    for name in names:
        store.create(name, Secret(f"v-{name}"))
    counts = _count_calls(store)
    got = store.batch_get_values(names)
    assert counts == {"BatchGetSecretValue": 3}
    assert {k: v.value.reveal() for k, v in got.items()} == {n: f"v-{n}" for n in names}
    by_arn = store.batch_get_values([got[names[0]].secret.secret_id])
    assert by_arn[got[names[0]].secret.secret_id].name == names[0]


def test_put_uses_client_request_token_as_version_id(store: AwsSecretsManager) -> None:
    name, version = f"token-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    store.create(name, Secret("a"))
    counts = _count_calls(store)
    store.put_value(name, Secret("b"), version_id=version)
    store.put_value(name, Secret("b"), version_id=version)  # service-side no-op
    assert counts == {"PutSecretValue": 2}
    raw = store.client.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert raw[version] == ["AWSCURRENT"]


def test_native_stage_names_work(store: AwsSecretsManager) -> None:
    name = f"native-{uuid.uuid4().hex[:8]}"
    store.create(name, Secret("old"))
    store.put_value(name, Secret("new"))
    got = store.get_value(name, stage="AWSPREVIOUS")
    assert got.value.reveal() == "old"
    assert got.version.native_stages == ("AWSPREVIOUS",)
    assert got.stages == {"previous"}


def test_binary_is_stored_as_secret_binary(store: AwsSecretsManager) -> None:
    name = f"bin-{uuid.uuid4().hex[:8]}"
    store.create(name, Secret(b"\x00\xffraw"))
    raw = store.client.get_secret_value(SecretId=name)
    assert raw["SecretBinary"] == b"\x00\xffraw"
    assert "SecretString" not in raw


def test_oversize_value_never_reaches_the_service(store: AwsSecretsManager) -> None:
    """moto accepts 70 KB values; the pre-check must not."""
    name = f"big-{uuid.uuid4().hex[:8]}"
    store.create(name, Secret("small"))
    counts = _count_calls(store)
    with pytest.raises(ValidationError, match="65536"):
        store.put_value(name, Secret("x" * 70_000))
    assert counts == {}


def test_throttling_is_transient(moto_server: RunningServer) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "secretsmanager",
        endpoint_url=moto_server.url,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )

    def throttle(**_: Any) -> None:
        from botocore.exceptions import ClientError

        error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
        raise ClientError(error, "GetSecretValue")  # type: ignore[arg-type]

    client.meta.events.register("before-call.secretsmanager.GetSecretValue", throttle)
    store = AwsSecretsManager(client)
    with pytest.raises(TransientError, match="ThrottlingException"):
        store.get_value("anything")


def test_deleted_name_stays_reserved(store: AwsSecretsManager) -> None:
    name = f"gone-{uuid.uuid4().hex[:8]}"
    store.create(name, Secret("v"))
    store.delete(name, recovery_days=7)
    with pytest.raises(Conflict):
        store.create(name, Secret("v2"))
