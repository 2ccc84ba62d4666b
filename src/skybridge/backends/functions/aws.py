"""``aws-lambda://REGION?endpoint_url=..&bucket=..&role=..&profile=..&update_timeout=..``: Lambda
and CloudWatch.

Layer zips up to Lambda's 50 MB direct-upload limit go inline; larger ones need ``bucket`` (an
S3 bucket in the same region), where the zip is put first. moto does not validate aliases,
weights or grants, so the rules of :mod:`.checks` are applied here before each call. Errors
are translated at this boundary: unknown layer, function or alias -> ``NotFound``; an existing
statement id or function -> ``Conflict``; refused parameters -> ``ValidationError``.

Lambda applies a configuration change asynchronously (``LastUpdateStatus`` ``InProgress``) and
refuses another change or a ``PublishVersion`` until it is done. So changing a function's layers
waits for any update in progress, makes the change and returns once Lambda has applied it;
publishing a version waits the same way first. A wait longer than ``update_timeout`` seconds
raises :class:`UpdateInProgress` (a ``TransientError``); an update Lambda could not apply raises
``TerminalError`` with Lambda's reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import boto3_client, classify_botocore, client_error_info
from skybridge.backends.functions.base import (
    AlarmState,
    Alias,
    FunctionConfig,
    FunctionPlatform,
    Grant,
    LayerVersion,
    Metric,
)
from skybridge.backends.functions.checks import check_alias, check_grant, check_layer_name
from skybridge.core.errors import Conflict, NotFound, TerminalError, TransientError, ValidationError
from skybridge.core.urls import BackendURL

#: Lambda's limit for a zip sent inline.
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024
#: CloudWatch takes at most this many data points per PutMetricData call.
METRICS_PER_CALL = 1000
_NOT_FOUND = frozenset({"ResourceNotFoundException", "ResourceNotFound"})
_CONFLICT = frozenset({"ResourceConflictException", "ResourceAlreadyExistsException"})
_INVALID = frozenset(
    {"InvalidParameterValueException", "InvalidParameterValue", "CodeStorageExceededException"}
)
#: How long a function update may take before a call waiting for it gives up (seconds).
UPDATE_TIMEOUT = 300.0
#: Pause between two reads of a function's update status (seconds).
UPDATE_POLL = 1.0
#: Tries of a change refused because another update started after the wait for it.
UPDATE_ATTEMPTS = 3


class UpdateInProgress(TransientError):
    """Lambda is still applying an earlier change to the function: retry later."""


class LambdaPlatform(FunctionPlatform):
    """Lambda layers, functions and aliases; CloudWatch metrics and alarms."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"aliases", "metrics", "alarms"})

    def __init__(
        self,
        region: str,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        bucket: str | None = None,
        role: str | None = None,
        timeout: float = 30.0,
        update_timeout: float = UPDATE_TIMEOUT,
        update_poll: float = UPDATE_POLL,
    ) -> None:
        config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"mode": "standard"})
        options: dict[str, Any] = {
            "region": region,
            "endpoint_url": endpoint_url,
            "profile": profile,
            "config": config,
            "setting": "backends.functions",
        }
        self.region = region
        self.bucket = bucket
        self.role = role
        self.update_timeout = update_timeout
        self.update_poll = update_poll
        self._lambda: Any = boto3_client("lambda", **options)
        self._cloudwatch: Any = boto3_client("cloudwatch", **options)
        self._s3: Any = boto3_client("s3", **options) if bucket else None

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        region = url.host or url.params.get("region")
        if not region:
            raise ValueError("aws-lambda:// needs a region: aws-lambda://eu-west-1")
        params = url.params
        return cls(
            region,
            endpoint_url=params.get("endpoint_url") or options.pop("endpoint_url", None),
            profile=params.get("profile"),
            bucket=params.get("bucket"),
            role=params.get("role"),
            timeout=float(params.get("timeout", 30.0)),
            update_timeout=float(
                params.get("update_timeout") or options.pop("update_timeout", UPDATE_TIMEOUT)
            ),
            **options,
        )

    def ping(self) -> None:
        self._call("Lambda", "the account", lambda: self._lambda.get_account_settings())

    def close(self) -> None:
        for client in (self._lambda, self._cloudwatch, self._s3):
            if client is not None:
                client.close()

    def _call(self, service: str, subject: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, ClientError) and _updating(exc):
                raise UpdateInProgress(
                    f"{service} is still applying an earlier change to {subject}: "
                    f"{client_error_info(exc).message}"
                ) from None
            raise classify_botocore(
                exc,
                service=service,
                subject=subject,
                not_found=_NOT_FOUND,
                conflict=_CONFLICT,
                invalid=_INVALID,
                setting="backends.functions",
            ) from None

    def _pages(self, operation: str, key: str, subject: str, **params: Any) -> list[Any]:
        paginator = self._lambda.get_paginator(operation)
        found: list[Any] = self._call(
            "Lambda",
            subject,
            lambda: [item for page in paginator.paginate(**params) for item in page[key]],
        )
        return found

    # -- layers ------------------------------------------------------------------------------

    def publish_layer_version(
        self,
        name: str,
        content: bytes,
        *,
        description: str = "",
        runtimes: Sequence[str] = (),
        architectures: Sequence[str] = (),
        license: str | None = None,
    ) -> LayerVersion:
        check_layer_name(name)
        request: dict[str, Any] = {
            "LayerName": name,
            "Description": description[:256],
            "Content": self._content(name, content),
            "CompatibleRuntimes": list(runtimes),
            "CompatibleArchitectures": list(architectures),
        }
        if license:
            request["LicenseInfo"] = license[:512]
        answer = self._call(
            "Lambda", f"layer {name}", lambda: self._lambda.publish_layer_version(**request)
        )
        return _layer(name, answer)

    def _content(self, name: str, content: bytes) -> dict[str, Any]:
        if len(content) <= DIRECT_UPLOAD_LIMIT:
            return {"ZipFile": content}
        if self._s3 is None:
            raise ValidationError(
                f"layer {name} is {len(content) / 2**20:.1f} MB zipped, over Lambda's 50 MB "
                "direct upload",
                hint="add ?bucket=NAME to backends.functions: the zip goes through S3",
            )
        key = f"skybridge-layers/{name}/{int(time.time() * 1000)}.zip"
        self._call(
            "S3",
            f"s3://{self.bucket}/{key}",
            lambda: self._s3.put_object(Bucket=self.bucket, Key=key, Body=content),
        )
        return {"S3Bucket": self.bucket, "S3Key": key}

    def list_layers(self) -> list[str]:
        layers = self._pages("list_layers", "Layers", "layers")
        return sorted(str(layer["LayerName"]) for layer in layers)

    def list_layer_versions(self, name: str) -> list[LayerVersion]:
        found = self._pages("list_layer_versions", "LayerVersions", f"layer {name}", LayerName=name)
        return sorted((_layer(name, v) for v in found), key=lambda v: -v.version)

    def delete_layer_version(self, name: str, version: int) -> None:
        if not any(v.version == version for v in self.list_layer_versions(name)):
            # Lambda answers a delete of a missing version with success.
            raise NotFound(f"layer {name} has no version {version}")
        self._call(
            "Lambda",
            f"layer {name}:{version}",
            lambda: self._lambda.delete_layer_version(LayerName=name, VersionNumber=version),
        )

    def add_layer_grant(self, name: str, version: int, grant: Grant) -> None:
        check_grant(grant)
        if any(g.statement_id == grant.statement_id for g in self.layer_grants(name, version)):
            # Lambda answers ResourceConflictException; moto would add a second statement.
            raise Conflict(f"layer {name}:{version} already has a grant {grant.statement_id!r}")
        request: dict[str, Any] = {
            "LayerName": name,
            "VersionNumber": version,
            "StatementId": grant.statement_id,
            "Action": "lambda:GetLayerVersion",
            "Principal": grant.principal,
        }
        if grant.organization_id:
            request["OrganizationId"] = grant.organization_id
        self._call(
            "Lambda",
            f"layer {name}:{version}",
            lambda: self._lambda.add_layer_version_permission(**request),
        )

    def layer_grants(self, name: str, version: int) -> list[Grant]:
        try:
            answer = self._call(
                "Lambda",
                f"layer {name}:{version}",
                lambda: self._lambda.get_layer_version_policy(
                    LayerName=name, VersionNumber=version
                ),
            )
        except NotFound:
            if any(v.version == version for v in self.list_layer_versions(name)):
                return []  # the version exists but has no policy yet
            raise
        return [_grant(s) for s in json.loads(answer["Policy"]).get("Statement", [])]

    # -- functions ---------------------------------------------------------------------------

    def create_function(
        self,
        name: str,
        *,
        runtime: str,
        code: bytes,
        handler: str = "app.handler",
        architectures: Sequence[str] = ("x86_64",),
        layers: Sequence[str] = (),
        role: str | None = None,
    ) -> FunctionConfig:
        check_layer_name(name, what="function")
        role = role or self.role
        if not role:
            raise ValidationError(
                f"creating function {name} needs an execution role",
                hint="pass role=, or add ?role=ARN to backends.functions",
            )
        answer = self._call(
            "Lambda",
            f"function {name}",
            lambda: self._lambda.create_function(
                FunctionName=name,
                Runtime=runtime,
                Role=role,
                Handler=handler,
                Code={"ZipFile": code},
                Architectures=list(architectures),
                Layers=list(layers),
            ),
        )
        return _function(answer)

    def list_functions(self) -> list[str]:
        found = self._pages("list_functions", "Functions", "functions")
        return sorted(str(f["FunctionName"]) for f in found)

    def function_versions(self, function: str) -> list[FunctionConfig]:
        found = self._pages(
            "list_versions_by_function", "Versions", f"function {function}", FunctionName=function
        )
        if not found:  # Lambda answers ResourceNotFoundException; moto an empty list
            raise NotFound(f"no function called {function} in {self.region}")
        configs = [_function(v) for v in found]
        return sorted(configs, key=lambda c: -1 if c.version == "$LATEST" else int(c.version))

    def set_function_layers(self, function: str, layers: Sequence[str]) -> FunctionConfig:
        """Put ``layers`` on ``$LATEST`` and return its configuration once Lambda applied them."""
        self._when_updated(
            function,
            lambda: self._lambda.update_function_configuration(
                FunctionName=function, Layers=list(layers)
            ),
            refuse_failed=False,  # a failed earlier update must not block the change fixing it
        )
        return _function(self._wait_for_update(function, refuse_failed=True))

    def publish_function_version(self, function: str, description: str = "") -> FunctionConfig:
        """Freeze ``$LATEST`` as a new version, once Lambda has applied every change to it."""
        answer = self._when_updated(
            function,
            lambda: self._lambda.publish_version(
                FunctionName=function, Description=description[:256]
            ),
            refuse_failed=True,
        )
        return _function(answer)

    def _when_updated(self, function: str, fn: Callable[[], Any], *, refuse_failed: bool) -> Any:
        """``fn()`` once no update of ``function`` is in progress; tried again (up to
        ``UPDATE_ATTEMPTS`` times) when another update starts between the wait and the call."""
        attempt = 1
        while True:
            self._wait_for_update(function, refuse_failed=refuse_failed)
            try:
                return self._call("Lambda", f"function {function}", fn)
            except UpdateInProgress:
                if attempt >= UPDATE_ATTEMPTS:
                    raise
                attempt += 1

    def _wait_for_update(self, function: str, *, refuse_failed: bool) -> dict[str, Any]:
        """The configuration of ``function`` once it is neither ``Pending`` nor updating.

        Raises:
            TerminalError: ``refuse_failed`` and Lambda could not apply the last update.
            UpdateInProgress: still updating after ``update_timeout`` seconds.
        """
        deadline = time.monotonic() + self.update_timeout
        while True:
            config: dict[str, Any] = self._call(
                "Lambda",
                f"function {function}",
                lambda: self._lambda.get_function_configuration(FunctionName=function),
            )
            status = config.get("LastUpdateStatus", "Successful")
            if refuse_failed and status == "Failed":
                reason = config.get("LastUpdateStatusReason") or "no reason given"
                code = config.get("LastUpdateStatusReasonCode") or "Failed"
                raise TerminalError(
                    f"Lambda could not apply the last change to function {function}: "
                    f"{code}: {reason}",
                    hint="fix the cause, then change the function again",
                )
            if status != "InProgress" and config.get("State") != "Pending":
                return config
            if time.monotonic() >= deadline:
                raise UpdateInProgress(
                    f"Lambda is still applying a change to function {function} after "
                    f"{self.update_timeout:g} s",
                    hint="try again later, or raise ?update_timeout= on backends.functions",
                )
            time.sleep(self.update_poll)

    def get_alias(self, function: str, name: str) -> Alias:
        answer = self._call(
            "Lambda",
            f"alias {function}:{name}",
            lambda: self._lambda.get_alias(FunctionName=function, Name=name),
        )
        return _alias(function, answer)

    def put_alias(self, alias: Alias) -> Alias:
        versions = {c.version for c in self.function_versions(alias.function)}
        check_alias(alias, versions)
        request = {
            "FunctionName": alias.function,
            "Name": alias.name,
            "FunctionVersion": alias.version,
            "RoutingConfig": {"AdditionalVersionWeights": dict(alias.weights)},
        }
        try:
            self.get_alias(alias.function, alias.name)
            operation = self._lambda.update_alias
        except NotFound:
            operation = self._lambda.create_alias
        answer = self._call(
            "Lambda", f"alias {alias.function}:{alias.name}", lambda: operation(**request)
        )
        return _alias(alias.function, answer)

    # -- metrics and alarms ------------------------------------------------------------------

    def put_metrics(self, namespace: str, metrics: Sequence[Metric]) -> None:
        data = [
            {
                "MetricName": m.name,
                "Value": m.value,
                "Unit": m.unit,
                "Dimensions": [{"Name": k, "Value": v} for k, v in m.dimensions.items()],
            }
            for m in metrics
        ]
        for start in range(0, len(data), METRICS_PER_CALL):
            chunk = data[start : start + METRICS_PER_CALL]
            self._call(
                "CloudWatch",
                f"namespace {namespace}",
                lambda chunk=chunk: self._cloudwatch.put_metric_data(  # type: ignore[misc]
                    Namespace=namespace, MetricData=chunk
                ),
            )

    def alarm_state(self, alarm: str) -> AlarmState:
        answer = self._call(
            "CloudWatch",
            f"alarm {alarm}",
            # Without AlarmTypes, DescribeAlarms answers with metric alarms only.
            lambda: self._cloudwatch.describe_alarms(
                AlarmNames=[alarm], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            ),
        )
        found = answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", [])
        if not found:
            raise NotFound(f"no CloudWatch alarm called {alarm} in {self.region}")
        state: AlarmState = found[0]["StateValue"]
        return state

    def set_alarm_state(self, alarm: str, state: AlarmState, reason: str) -> None:
        self.alarm_state(alarm)
        self._call(
            "CloudWatch",
            f"alarm {alarm}",
            lambda: self._cloudwatch.set_alarm_state(
                AlarmName=alarm, StateValue=state, StateReason=reason[:1023]
            ),
        )


def _updating(exc: ClientError) -> bool:
    """Whether Lambda refused a call because the function is still being created or updated."""
    info = client_error_info(exc)
    text = info.message.lower()
    return info.code == "ResourceConflictException" and (
        "in progress" in text or "currently in the following state: pending" in text
    )


def _layer(name: str, answer: dict[str, Any]) -> LayerVersion:
    content = answer.get("Content", {})
    return LayerVersion(
        name=name,
        version=int(answer["Version"]),
        arn=str(answer["LayerVersionArn"]),
        created=str(answer.get("CreatedDate", "")),
        description=str(answer.get("Description", "")),
        runtimes=tuple(answer.get("CompatibleRuntimes", [])),
        architectures=tuple(answer.get("CompatibleArchitectures", [])),
        code_size=int(content.get("CodeSize", 0)),
        code_sha256=str(content.get("CodeSha256", "")),
        license=answer.get("LicenseInfo"),
    )


def _function(answer: dict[str, Any]) -> FunctionConfig:
    version = str(answer.get("Version", "$LATEST"))
    arn = str(answer["FunctionArn"])
    return FunctionConfig(
        name=str(answer["FunctionName"]),
        version=version,
        arn=arn,
        runtime=answer.get("Runtime"),
        architectures=tuple(answer.get("Architectures", ["x86_64"])),
        layers=tuple(str(layer["Arn"]) for layer in answer.get("Layers", [])),
    )


def _alias(function: str, answer: dict[str, Any]) -> Alias:
    weights = answer.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    return Alias(
        function=function,
        name=str(answer["Name"]),
        version=str(answer["FunctionVersion"]),
        weights={str(k): float(v) for k, v in weights.items()},
    )


def _grant(statement: dict[str, Any]) -> Grant:
    principal = statement.get("Principal", "*")
    if isinstance(principal, dict):
        principal = principal.get("AWS", "*")
    principal = str(principal)
    if principal.startswith("arn:"):
        principal = principal.split(":")[4]
    # AWS states the organisation as a condition; moto as a field of the statement.
    condition = statement.get("Condition", {}).get("StringEquals", {})
    org = condition.get("aws:PrincipalOrgID") or statement.get("OrganizationId")
    return Grant(str(statement.get("Sid", "")), principal, str(org) if org else None)
