"""aws-sm:// against the moto server: the contract, plus AWS-specific behaviour."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.backends import secrets as secrets_family
from skybridge.backends.secrets import aws as aws_module
from skybridge.backends.secrets.aws import AwsSecretsManager
from skybridge.backends.secrets.aws_describe import LIST_THRESHOLD, common_prefix, name_filter
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


def test_short_version_ids_are_padded_to_a_token_the_service_takes(
    store: AwsSecretsManager,
) -> None:
    """A token has 32-64 characters: an OCI version number as version id was refused."""
    name = f"short-{uuid.uuid4().hex[:8]}"
    created = store.create(name, Secret("one"), version_id="1")
    token = aws_module.aws_version_id("1")
    assert created.version.version_id == token
    assert len(token) == 32
    assert token.startswith("1-")
    written = store.put_value(name, Secret("two"), version_id="2.r1")
    assert written.version.is_current
    assert store.put_value(name, Secret("two"), version_id="2.r1").version_id == written.version_id
    assert store.get_value(name, version_id="1").value.reveal() == "one"
    assert store.get_value(name, version_id=token).value.reveal() == "one"
    assert store.get_value(name).value.reveal() == "two"
    with pytest.raises(Conflict):  # still one value per id
        store.put_value(name, Secret("other"), version_id="1")
    assert aws_module.aws_version_id("x" * 32) == "x" * 32


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


# -- describe_many: one ListSecrets listing instead of N DescribeSecret calls ---------------------


def _listing_params(store: AwsSecretsManager) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(dict(params))

    store.client.meta.events.register("provide-client-params.secretsmanager.ListSecrets", record)
    return seen


def _create_many(store: AwsSecretsManager, tag: str, count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    names = [f"{tag}-{run}/s{i:03d}" for i in range(count)]
    for name in names:
        store.create(name, Secret("v"))
    return names


def test_describe_many_lists_once_and_describes_only_the_doubtful(
    store: AwsSecretsManager,
) -> None:
    names = _create_many(store, "many", LIST_THRESHOLD + 5)
    store.put_value(names[0], Secret("v2"))
    store.delete(names[1], recovery_days=7)
    arn = store.describe(names[2]).secret_id
    missing = names[0] + "-missing"
    asked = [*names[3:], names[0], names[1], arn, missing]
    counts, params = _count_calls(store), _listing_params(store)
    got = store.describe_many(asked)
    # the deleted secret and the missing one are asked again; the rest comes from the listing
    assert counts == {"ListSecrets": 1, "DescribeSecret": 2}
    assert params == [
        {
            "MaxResults": 100,
            "IncludePlannedDeletion": True,
            "Filters": [{"Key": "name", "Values": [names[0].rsplit("/", 1)[0] + "/s0"]}],
        }
    ]
    assert list(got) == asked[:-1]
    assert got[names[1]].pending_deletion
    assert got[arn].name == names[2]
    assert {key: store.describe(key) for key in got} == got


def test_describe_many_below_threshold_describes_each(store: AwsSecretsManager) -> None:
    names = _create_many(store, "few", LIST_THRESHOLD - 1)
    counts = _count_calls(store)
    assert set(store.describe_many(names)) == set(names)
    assert counts == {"DescribeSecret": LIST_THRESHOLD - 1}


def test_describe_many_distrusts_entries_without_awscurrent(store: AwsSecretsManager) -> None:
    """ListSecrets is eventually consistent: an entry may lag behind a write."""
    names = _create_many(store, "lag", LIST_THRESHOLD)

    def lag(parsed: dict[str, Any], **_: Any) -> None:
        for entry in parsed.get("SecretList", []):
            if entry["Name"] == names[5]:
                entry["SecretVersionsToStages"] = {}

    store.client.meta.events.register("after-call.secretsmanager.ListSecrets", lag)
    try:
        counts = _count_calls(store)
        got = store.describe_many(names)
    finally:
        store.client.meta.events.unregister("after-call.secretsmanager.ListSecrets", lag)
    assert counts == {"ListSecrets": 1, "DescribeSecret": 1}
    assert got[names[5]].current_version_id is not None
    assert got == {name: store.describe(name) for name in names}


def test_describe_many_stops_listing_when_pages_outnumber_the_missing(
    store: AwsSecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws_module, "LIST_PAGE", 5)
    names = _create_many(store, "stop", LIST_THRESHOLD + 20)
    absent = [f"{names[0]}-absent{i}" for i in range(2)]
    counts = _count_calls(store)
    # the first 20 fill pages 1-4; then 2 are missing, and 4 pages >= 2: stop (of 8 pages)
    got = store.describe_many([*names[:LIST_THRESHOLD], *absent])
    assert set(got) == set(names[:LIST_THRESHOLD])
    assert counts == {"ListSecrets": 4, "DescribeSecret": 2}
    counts.clear()
    # the last 20 are on pages 5-8; after page 7, 5 are missing and 7 pages >= 5: describe them
    got = store.describe_many(names[LIST_THRESHOLD:])
    assert counts == {"ListSecrets": 7, "DescribeSecret": 5}
    assert got == {name: store.describe(name) for name in names[LIST_THRESHOLD:]}


def test_describe_many_errors_are_translated(moto_server: RunningServer) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    client = boto3.client(
        "secretsmanager",
        endpoint_url=moto_server.url,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )

    def throttle(**_: Any) -> None:
        error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
        raise ClientError(error, "ListSecrets")  # type: ignore[arg-type]

    client.meta.events.register("before-call.secretsmanager.ListSecrets", throttle)
    with pytest.raises(TransientError, match="ListSecrets"):
        AwsSecretsManager(client).describe_many([f"t{i}" for i in range(LIST_THRESHOLD)])


@given(st.lists(st.text(alphabet="ab/-", max_size=6), min_size=1, max_size=6))
def test_common_prefix_is_the_longest_shared_start(names: list[str]) -> None:
    prefix = common_prefix(names)
    assert all(name.startswith(prefix) for name in names)
    longer = {name[: len(prefix) + 1] for name in names}
    assert len(longer) > 1 or any(len(name) == len(prefix) for name in names)


def test_name_filter_uses_the_names_inside_arns() -> None:
    assert common_prefix(["prod/db-a", "prod/db-b", "prod/dx"]) == "prod/d"
    assert common_prefix(["a", "b"]) == ""
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-a-AbC123"
    assert name_filter([arn, "prod/db-b"]) == "prod/db-"
    assert name_filter([arn]) == "prod/db-a"
