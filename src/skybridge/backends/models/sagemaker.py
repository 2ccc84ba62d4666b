"""``sagemaker://ENDPOINT?region=..&endpoint_url=..``: a SageMaker real-time endpoint through
``sagemaker-runtime`` ``InvokeEndpoint``.

``content_type=text/csv`` (default, what SageMaker's built-in algorithms and the scikit-learn
container take: one row per line, no header, a missing value left empty) or
``application/json`` (``{"instances": [[...], ...]}``, answered with a list or
``{"predictions": [...]}``); ``variant=`` targets one production variant; ``features=`` names
the columns; ``missing=true`` lets missing values through. ``ping`` asks the control plane
(``DescribeEndpoint``) whether the endpoint is ``InService``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Self

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import boto3_client, classify_botocore, client_error_info
from skybridge.backends.models.base import ModelEndpoint, Row, parse_columns
from skybridge.backends.models.wire import (
    csv_body,
    json_predictions,
    parse_csv_predictions,
    plain,
)
from skybridge.core.errors import (
    ConfigError,
    NotFound,
    SkybridgeError,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.core.urls import BackendURL

_TYPES = ("text/csv", "application/json")
_SETTING = "backends.models"


class SageMakerEndpoint(ModelEndpoint):
    """A SageMaker real-time inference endpoint.

    Args:
        endpoint: The endpoint name.
        region: AWS region.
        endpoint_url: Another service URL (a VPC endpoint; moto or a local server in tests).
        content_type: ``text/csv`` or ``application/json``.
        variant: A production variant to target.
        missing: Let missing values through (empty CSV fields / JSON nulls).
        client: A ``sagemaker-runtime`` client to use instead of building one.
    """

    scheme: ClassVar[str] = "sagemaker"
    max_batch: ClassVar[int] = 500  # InvokeEndpoint bodies are capped at 25 MB (6 MB sync)

    def __init__(
        self,
        endpoint: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        content_type: str = "text/csv",
        variant: str | None = None,
        missing: bool = False,
        client: Any = None,
        **base: Any,
    ) -> None:
        super().__init__(missing=missing, **base)
        if not endpoint or "/" in endpoint:
            raise ConfigError(f"'{endpoint}' is not a SageMaker endpoint name", setting=_SETTING)
        if content_type not in _TYPES:
            raise ConfigError(f"content_type must be one of {', '.join(_TYPES)}", setting=_SETTING)
        self.endpoint = endpoint
        self.content_type = content_type
        self.variant = variant
        config = Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"mode": "standard", "total_max_attempts": 1},  # core.retry decides
        )
        self._client = client or boto3_client(
            "sagemaker-runtime",
            region=region,
            endpoint_url=endpoint_url,
            config=config,
            setting=_SETTING,
        )
        self._control = boto3_client(
            "sagemaker", region=region, endpoint_url=endpoint_url, config=config, setting=_SETTING
        )

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        params = url.params
        options.setdefault("columns", parse_columns(params.get("features")))
        for name in ("region", "endpoint_url", "content_type", "variant"):
            if params.get(name):
                options.setdefault(name, params[name])
        options.setdefault("missing", url.flag("missing"))
        if "timeout" in params:
            options.setdefault("timeout", float(params["timeout"]))
        return cls(url.rest.strip("/"), **options)

    def describe(self) -> str:
        return f"sagemaker://{self.endpoint}"

    def close(self) -> None:
        for client in (self._client, self._control):
            client.close()

    def ping(self) -> None:
        try:
            found = self._control.describe_endpoint(EndpointName=self.endpoint)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None
        status = found.get("EndpointStatus")
        if status != "InService":
            raise TransientError(f"SageMaker endpoint {self.endpoint} is {status}, not InService")

    def _predict(self, rows: list[Row]) -> list[Any]:
        request: dict[str, Any] = {
            "EndpointName": self.endpoint,
            "ContentType": self.content_type,
            "Accept": self.content_type,
            "Body": self._body(rows),
        }
        if self.variant:
            request["TargetVariant"] = self.variant
        try:
            answer = self._client.invoke_endpoint(**request)
            text = answer["Body"].read().decode("utf-8")
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None
        return self._parse(text, answer.get("ContentType") or self.content_type)

    def _body(self, rows: list[Row]) -> bytes:
        if self.content_type == "text/csv":
            return csv_body(rows)
        return json.dumps({"instances": rows}).encode()

    def _parse(self, text: str, content_type: str) -> list[Any]:
        if content_type.startswith("text/csv"):
            return parse_csv_predictions(text)
        try:
            data = json.loads(text)
        except ValueError:
            raise TerminalError(
                f"{self.describe()} answered {content_type} that is not JSON"
            ) from None
        return [plain(v) for v in json_predictions(data)]

    def _error(self, exc: BotoCoreError | ClientError) -> SkybridgeError:
        subject = f"endpoint {self.endpoint}"
        if isinstance(exc, ClientError):
            info = client_error_info(exc)
            if info.code == "ValidationError" and "not found" in info.message.lower():
                return NotFound(f"SageMaker {subject} does not exist: {info.message}")
            if info.code == "ModelError":
                return self._model_error(exc, info.message)
        return classify_botocore(
            exc,
            service="SageMaker",
            subject=subject,
            invalid=frozenset({"ValidationError"}),
            transient=frozenset({"ServiceUnavailable", "ModelNotReadyException"}),
            setting=_SETTING,
        )

    def _model_error(self, exc: ClientError, message: str) -> SkybridgeError:
        status = int(str(exc.response.get("OriginalStatusCode") or 0))
        text = f"the model behind SageMaker endpoint {self.endpoint} failed ({status}): {message}"
        if status >= 500:
            return TransientError(text)
        return ValidationError(text) if 400 <= status < 500 else TerminalError(text)
