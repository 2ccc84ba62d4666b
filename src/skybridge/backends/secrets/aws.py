"""``aws-sm://<region>?endpoint_url=..&profile=..``: AWS Secrets Manager.

Version ids are Secrets Manager ``VersionId``s and are sent as ``ClientRequestToken``, so a
retried write is a no-op on the service side. A token has 32 to 64 characters: a shorter version
id (an OCI version number, ``3``) is written and read as itself padded with a hash of it to 32
(:func:`aws_version_id`), so the same id always names the same version. Stages map
``AWSCURRENT``/``AWSPENDING``/``AWSPREVIOUS`` to ``current``/``pending``/``previous``; other
labels are kept as they are. Text values go to ``SecretString`` and bytes to ``SecretBinary``.
Tags are the metadata.
``batch_get_values`` uses ``BatchGetSecretValue`` (20 secrets per call); ``describe_many`` of
20 or more secrets reads one ``ListSecrets`` listing (see
:mod:`~skybridge.backends.secrets.aws_describe`) and describes only what it leaves open.

Keyword options: ``client=`` (a ready boto3 client), ``max_value_size=``.
"""

from __future__ import annotations

import builtins
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self, TypeVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import boto3_client
from skybridge.backends.secrets.aws_describe import (
    LIST_PAGE,
    LIST_THRESHOLD,
    NATIVE_STAGES,
    match_listing,
    name_filter,
    secret_info,
    version_info,
)
from skybridge.backends.secrets.aws_errors import translate
from skybridge.backends.secrets.base import SecretStore, VersionExists
from skybridge.backends.secrets.types import (
    CURRENT,
    SecretInfo,
    SecretRef,
    SecretValue,
    SecretVersion,
    VersionInfo,
)
from skybridge.core.errors import Conflict, NotFound, SkybridgeError
from skybridge.core.observability import observe_call
from skybridge.core.secret import Secret
from skybridge.core.urls import BackendURL

R = TypeVar("R")
_BATCH = 20


def _value(response: Mapping[str, Any]) -> SecretValue:
    if "SecretBinary" in response:
        return Secret(bytes(response["SecretBinary"]))
    return Secret(str(response.get("SecretString", "")))


def _value_field(value: SecretValue) -> dict[str, Any]:
    raw = value.reveal()
    return {"SecretBinary": raw} if isinstance(raw, bytes) else {"SecretString": raw}


#: The shortest ``ClientRequestToken`` (and so ``VersionId``) Secrets Manager accepts.
MIN_VERSION_ID = 32


def aws_version_id(version_id: str) -> str:
    """``version_id`` as a Secrets Manager version id: as it is from 32 characters on, else
    followed by ``-`` and the start of its SHA-256 up to 32 characters (``3`` ->
    ``3-4e07408562bedb8b60ce05c1decfe3``)."""
    if len(version_id) >= MIN_VERSION_ID:
        return version_id
    digest = hashlib.sha256(version_id.encode()).hexdigest()
    return f"{version_id}-{digest}"[:MIN_VERSION_ID]


class AwsSecretsManager(SecretStore):
    """AWS Secrets Manager through boto3."""

    scheme = "aws-sm"
    capabilities = frozenset({"force_delete", "native_batch_get"})
    recovery_days_range = (7, 30)
    # Names cannot hold ':', so an ARN is never a name; declared for is_secret_id().
    id_pattern = re.compile(r"^arn:")
    id_rule = "an ARN (arn:…)"

    def __init__(self, client: Any, *, max_value_size: int | None = None) -> None:
        super().__init__(max_value_size=max_value_size)
        self.client = client

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        client = options.pop("client", None)
        if client is None:
            client = boto3_client(
                "secretsmanager",
                region=url.rest.strip("/"),
                endpoint_url=options.pop("endpoint_url", url.params.get("endpoint_url")),
                profile=url.params.get("profile"),
                config=Config(retries={"mode": "standard", "max_attempts": 3}),
                setting="backends.secrets",
            )
        size = options.pop("max_value_size", url.params.get("max_value_size"))
        return cls(client, max_value_size=int(size) if size else None, **options)

    def __repr__(self) -> str:
        return f"AwsSecretsManager(region={self.client.meta.region_name!r})"

    def close(self) -> None:
        self.client.close()

    def ping(self) -> None:
        self._call("ListSecrets", "*", lambda: self.client.list_secrets(MaxResults=1))

    def _call(self, operation: str, secret: str, fn: Callable[[], R]) -> R:
        with observe_call("secrets", self.scheme, operation):
            try:
                return fn()
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc, operation=operation, secret=secret) from None

    # ----------------------------------------------------------------- primitives
    def _create(
        self,
        name: str,
        value: SecretValue,
        version_id: str,
        description: str | None,
        metadata: Mapping[str, str],
    ) -> SecretVersion:
        kwargs: dict[str, Any] = {"Name": name, "ClientRequestToken": version_id}
        if description is not None:
            kwargs["Description"] = description
        if metadata:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in metadata.items()]
        response = self._call(
            "CreateSecret",
            name,
            lambda: self.client.create_secret(**kwargs, **_value_field(value)),
        )
        ref = SecretRef(response["Name"], response["ARN"])
        return SecretVersion(ref, version_info(response["VersionId"], ["AWSCURRENT"]), value)

    def _put_value(
        self, secret: str, value: SecretValue, version_id: str, metadata: Mapping[str, str]
    ) -> SecretVersion:
        try:
            response = self._call(
                "PutSecretValue",
                secret,
                lambda: self.client.put_secret_value(
                    SecretId=secret, ClientRequestToken=version_id, **_value_field(value)
                ),
            )
        except Conflict as exc:
            raise VersionExists(exc.message) from None
        if metadata:
            self._update_metadata(secret, metadata, set())
        ref = SecretRef(response["Name"], response["ARN"])
        info = version_info(response["VersionId"], response.get("VersionStages", []))
        return SecretVersion(ref, info, value)

    @staticmethod
    def _version_id(version_id: str | None) -> str:
        return aws_version_id(SecretStore._version_id(version_id))

    def _get_value(self, secret: str, version_id: str | None, stage: str | None) -> SecretVersion:
        kwargs: dict[str, Any] = {"SecretId": secret}
        if version_id is not None:
            kwargs["VersionId"] = aws_version_id(version_id)
        if stage is not None:
            kwargs["VersionStage"] = NATIVE_STAGES.get(stage, stage)
        try:
            response = self._call(
                "GetSecretValue", secret, lambda: self.client.get_secret_value(**kwargs)
            )
        except NotFound:
            what = f"version '{version_id}'" if version_id else f"stage '{stage or CURRENT}'"
            raise NotFound(f"secret '{secret}' or its {what} not found") from None
        return self._version_from(response)

    @staticmethod
    def _version_from(response: Mapping[str, Any]) -> SecretVersion:
        ref = SecretRef(response["Name"], response["ARN"])
        info = version_info(
            response["VersionId"], response.get("VersionStages", []), response.get("CreatedDate")
        )
        return SecretVersion(ref, info, _value(response))

    def _describe(self, secret: str) -> SecretInfo:
        response = self._call(
            "DescribeSecret", secret, lambda: self.client.describe_secret(SecretId=secret)
        )
        return secret_info(response, "VersionIdsToStages")

    def _describe_many(self, secrets: builtins.list[str]) -> dict[str, SecretInfo]:
        """One ``ListSecrets`` listing for 20+ secrets, ``DescribeSecret`` for what it leaves.

        The listing answers only for secrets that exist, are not scheduled for deletion and
        have an AWSCURRENT version (it is eventually consistent); the rest, and everything when
        there are fewer than ``LIST_THRESHOLD`` secrets, is described one by one.
        """
        listed: dict[str, SecretInfo] = {}
        if len(secrets) >= LIST_THRESHOLD:
            listed = match_listing(self._list_pages(name_filter(secrets)), set(secrets))
        described = super()._describe_many([s for s in secrets if s not in listed])
        found = {**listed, **described}
        return {s: found[s] for s in secrets if s in found}

    def _list_pages(self, prefix: str) -> Iterator[builtins.list[Mapping[str, Any]]]:
        """``ListSecrets`` pages (deleted secrets included) of names starting with ``prefix``."""
        kwargs: dict[str, Any] = {"MaxResults": LIST_PAGE, "IncludePlannedDeletion": True}
        if prefix:
            kwargs["Filters"] = [{"Key": "name", "Values": [prefix]}]
        while True:
            page = self._call(
                "ListSecrets", prefix or "*", lambda: self.client.list_secrets(**kwargs)
            )
            yield list(page.get("SecretList", []))
            if not page.get("NextToken"):
                return
            kwargs["NextToken"] = page["NextToken"]

    def list_versions(self, secret: str) -> builtins.list[VersionInfo]:
        """Every version, including deprecated ones (``ListSecretVersionIds``), oldest first."""
        versions: list[VersionInfo] = []
        kwargs: dict[str, Any] = {"SecretId": secret, "IncludeDeprecated": True}
        while True:
            page = self._call(
                "ListSecretVersionIds",
                secret,
                lambda: self.client.list_secret_version_ids(**kwargs),
            )
            for v in page.get("Versions", []):
                versions.append(
                    version_info(v["VersionId"], v.get("VersionStages", []), v.get("CreatedDate"))
                )
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        return sorted(versions, key=lambda v: (v.created is None, v.created))

    def _list(self, prefix: str | None) -> Iterator[SecretRef]:
        kwargs: dict[str, Any] = {}
        if prefix:
            kwargs["Filters"] = [{"Key": "name", "Values": [prefix]}]
        while True:
            page = self._call(
                "ListSecrets", prefix or "*", lambda: self.client.list_secrets(**kwargs)
            )
            for entry in page.get("SecretList", []):
                # The service's name filter ignores case; the contract's prefix does not.
                if entry["Name"].startswith(prefix or "") and not entry.get("DeletedDate"):
                    yield SecretRef(entry["Name"], entry["ARN"])
            if not page.get("NextToken"):
                return
            kwargs["NextToken"] = page["NextToken"]

    def _update_metadata(self, secret: str, set_: Mapping[str, str], remove: set[str]) -> None:
        if set_:
            tags = [{"Key": k, "Value": v} for k, v in set_.items()]
            self._call(
                "TagResource", secret, lambda: self.client.tag_resource(SecretId=secret, Tags=tags)
            )
        if remove:
            keys = sorted(remove)
            self._call(
                "UntagResource",
                secret,
                lambda: self.client.untag_resource(SecretId=secret, TagKeys=keys),
            )

    def _delete(self, secret: str, recovery_days: int | None, force: bool) -> None:
        kwargs: dict[str, Any] = {"SecretId": secret}
        if force:
            kwargs["ForceDeleteWithoutRecovery"] = True
        else:
            kwargs["RecoveryWindowInDays"] = recovery_days
        self._call("DeleteSecret", secret, lambda: self.client.delete_secret(**kwargs))

    def _batch_get_values(self, secrets: builtins.list[str]) -> dict[str, SecretVersion]:
        found: dict[str, SecretVersion] = {}
        for start in range(0, len(secrets), _BATCH):
            chunk = secrets[start : start + _BATCH]
            for response in self._batch_pages(chunk):
                version = self._version_from(response)
                for wanted in chunk:
                    if wanted in (response["Name"], response["ARN"]):
                        found[wanted] = version
        return found

    def _batch_pages(self, chunk: builtins.list[str]) -> Iterator[Mapping[str, Any]]:
        kwargs: dict[str, Any] = {"SecretIdList": chunk}
        label = f"{chunk[0]} (+{len(chunk) - 1})"
        while True:
            page = self._call(
                "BatchGetSecretValue", label, lambda: self.client.batch_get_secret_value(**kwargs)
            )
            self._raise_batch_errors(page.get("Errors", []))
            yield from page.get("SecretValues", [])
            if not page.get("NextToken"):
                return
            kwargs["NextToken"] = page["NextToken"]

    @staticmethod
    def _raise_batch_errors(errors: builtins.list[Mapping[str, Any]]) -> None:
        for error in errors:
            secret = str(error.get("SecretId", "?"))
            exc = ClientError(
                {
                    "Error": {
                        "Code": str(error.get("ErrorCode")),
                        "Message": error.get("Message", ""),
                    }
                },
                "BatchGetSecretValue",
            )
            translated: SkybridgeError = translate(
                exc, operation="BatchGetSecretValue", secret=secret
            )
            if not isinstance(translated, NotFound):
                raise translated
