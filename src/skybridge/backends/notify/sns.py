"""``sns://arn:aws:sns:REGION:ACCOUNT:topic?region=..&endpoint_url=..``: AWS SNS ``Publish``.

The subject is trimmed to SNS's rule (ASCII, one line, at most 100 characters); severity,
source and dedup key travel as message attributes so subscriptions can filter on them. FIFO
topics (``.fifo``) get ``MessageGroupId`` and ``MessageDeduplicationId`` from the dedup key.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from typing import Any, ClassVar, Self

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ParamValidationError

from skybridge.backends.cloud.aws import boto3_client, client_error_info
from skybridge.backends.notify.base import Message, Notifier
from skybridge.core.errors import ConfigError, SkybridgeError, TerminalError, TransientError
from skybridge.core.urls import BackendURL

_ARN = re.compile(r"^arn:aws[\w-]*:sns:([\w-]+):\d{12}:[\w.-]+$")
_MAX_MESSAGE_BYTES = 256 * 1024 - 1024  # leave room for attributes


def sns_subject(text: str) -> str:
    """SNS subjects are ASCII, one line, at most 100 characters, and not empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    one_line = " ".join("".join(c if c.isprintable() else " " for c in ascii_text).split())
    if len(one_line) > 100:
        one_line = one_line[:97].rstrip() + "..."
    return one_line or "skybridge notification"


class SnsNotifier(Notifier):
    """Publishes each message to an SNS topic.

    Args:
        topic_arn: The topic's ARN.
        region: AWS region (default: the ARN's).
        endpoint_url: Another endpoint (a VPC endpoint, or the moto server in tests).
        timeout: Connect and read timeout in seconds.
    """

    scheme = "sns"
    capabilities: ClassVar[frozenset[str]] = frozenset({"fifo"})

    def __init__(
        self,
        topic_arn: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        timeout: float = 10.0,
        **base: Any,
    ) -> None:
        super().__init__(**base)
        match = _ARN.match(topic_arn)
        if match is None:
            raise ConfigError(
                f"'{topic_arn}' is not an SNS topic ARN",
                setting="backends.notify",
                hint="write sns://arn:aws:sns:REGION:ACCOUNT:TOPIC",
            )
        self.topic_arn = topic_arn
        self.fifo = topic_arn.endswith(".fifo")
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"mode": "standard", "total_max_attempts": 1},  # core.retry decides
        )
        self._client: Any = boto3_client(
            "sns",
            region=region or match.group(1),
            endpoint_url=endpoint_url,
            config=config,
            setting="backends.notify",
        )

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        base = cls.policy_options(url, options)
        params = url.params
        return cls(
            url.rest,
            region=params.get("region") or options.pop("region", None),
            endpoint_url=params.get("endpoint_url") or options.pop("endpoint_url", None),
            timeout=float(params.get("timeout", options.pop("timeout", 10.0))),
            **base,
            **options,
        )

    def describe(self) -> str:
        return f"sns://{self.topic_arn}"

    def ping(self) -> None:
        self._call(lambda: self._client.get_topic_attributes(TopicArn=self.topic_arn))

    def close(self) -> None:
        self._client.close()

    def _deliver(self, message: Message) -> str | None:
        body = message.plain_text().encode("utf-8")[:_MAX_MESSAGE_BYTES].decode("utf-8", "ignore")
        request: dict[str, Any] = {
            "TopicArn": self.topic_arn,
            "Subject": sns_subject(message.subject()),
            "Message": body,
            "MessageAttributes": self._attributes(message),
        }
        if self.fifo:
            identity = message.dedup_key or f"{body}\n{self.clock.now()}"
            request["MessageGroupId"] = (message.dedup_key or message.source or "skybridge")[:128]
            request["MessageDeduplicationId"] = hashlib.sha256(identity.encode()).hexdigest()
        response = self._call(lambda: self._client.publish(**request))
        return str(response["MessageId"])

    @staticmethod
    def _attributes(message: Message) -> dict[str, dict[str, str]]:
        values = {
            "severity": message.severity.value,
            "source": message.source,
            "dedup_key": message.dedup_key,
        }
        return {k: {"DataType": "String", "StringValue": v} for k, v in values.items() if v}

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ClientError as exc:
            raise self._translate(exc) from None
        except NoCredentialsError:
            raise TerminalError(
                f"no AWS credentials to publish to {self.topic_arn}",
                hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            ) from None
        except ParamValidationError as exc:
            raise TerminalError(f"SNS refused the request: {exc}") from None
        except BotoCoreError as exc:
            raise TransientError(f"SNS unreachable: {type(exc).__name__}") from None

    def _translate(self, exc: ClientError) -> SkybridgeError:
        info = client_error_info(exc)
        text = f"SNS {info.code or info.status} on {self.topic_arn}: {info.message}"
        if info.transient:
            return TransientError(text, retry_after=info.retry_after)
        hint = (
            "the topic does not exist in this account and region"
            if info.code == "NotFound"
            else None
        )
        return TerminalError(text, hint=hint)
