"""boto3 clients and botocore error classification shared by the AWS backends.

Each backend keeps its service's own error codes (DynamoDB's ``ConditionalCheckFailedException``,
S3's ``NoSuchBucket``...) and passes them to :func:`classify_botocore`, which knows what every AWS
service has in common: throttling codes, 429 and 5xx, unreachable endpoints, and missing
credentials or region. Error messages pass through :func:`skybridge.core.secret.scrub`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
)

from skybridge.core.errors import (
    ConfigError,
    Conflict,
    NotAuthenticated,
    NotFound,
    SkybridgeError,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.core.secret import scrub

#: Codes any AWS service may answer when it throttles or fails on its side.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "KMSThrottlingException",
        "InternalError",
        "InternalFailure",
        "InternalServiceError",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
#: Network trouble: refused, reset, timed out (read timeouts are ``HTTPClientError``s).
NETWORK_ERRORS = (ConnectionError, HTTPClientError)
#: The client cannot sign or route a request: nothing to retry, the setup is wrong.
SETUP_ERRORS = (NoCredentialsError, PartialCredentialsError, NoRegionError, ProfileNotFound)
SETUP_HINT = (
    "set AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an IAM role) "
    "and a region (?region= in the URL or AWS_DEFAULT_REGION)"
)


@dataclass(frozen=True)
class ClientErrorInfo:
    """What a botocore ``ClientError`` says. ``message`` is scrubbed."""

    code: str  # "" when the response had none
    status: int  # HTTP status, 0 when unknown
    message: str
    retry_after: float | None

    @property
    def transient(self) -> bool:
        """Throttled, or the service failed on its side (429, 5xx or a code meaning so)."""
        return self.code in TRANSIENT_CODES or self.status == 429 or self.status >= 500


def client_error_info(exc: ClientError) -> ClientErrorInfo:
    """The code, HTTP status, scrubbed message and ``retry-after`` seconds of ``exc``."""
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    after = meta.get("HTTPHeaders", {}).get("retry-after")
    try:
        retry_after = float(after) if after is not None else None
    except (TypeError, ValueError):
        retry_after = None  # an HTTP date: let the retry policy pick the wait
    return ClientErrorInfo(
        code=str(error.get("Code") or ""),
        status=int(meta.get("HTTPStatusCode") or 0),
        message=scrub(str(error.get("Message") or "")),
        retry_after=retry_after,
    )


#: Error codes of AWS APIs refusing the credentials themselves (not a missing permission).
NOT_AUTHENTICATED = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
    }
)


def classify_botocore(
    exc: BotoCoreError | ClientError,
    *,
    service: str,
    subject: str,
    text: str | None = None,
    not_found: frozenset[str] = frozenset(),
    conflict: frozenset[str] = frozenset(),
    invalid: frozenset[str] = frozenset(),
    transient: frozenset[str] = frozenset(),
    setting: str | None = None,
) -> SkybridgeError:
    """The skybridge error for a botocore error raised by ``service`` working on ``subject``.

    For a ``ClientError``: throttling, 429, 5xx and ``transient`` codes -> TransientError (with
    ``retry-after``); ``not_found`` codes or 404 -> NotFound; ``conflict`` codes, 409 or 412 ->
    Conflict; ``invalid`` codes -> ValidationError; credentials refused (:data:`NOT_AUTHENTICATED`)
    -> NotAuthenticated; anything else -> TerminalError. ``text`` is
    the message (default ``"<service> <code> on <subject>: <message>"``). Special cases of a
    service go before this call.
    """
    if isinstance(exc, ClientError):
        info = client_error_info(exc)
        code = info.code or str(info.status or "Unknown")
        text = text or f"{service} {code} on {subject}: {info.message}"
        if info.transient or code in transient:
            return TransientError(text, retry_after=info.retry_after)
        if code in not_found or info.status == 404:
            return NotFound(text)
        if code in conflict or info.status in (409, 412):
            return Conflict(text)
        if code in invalid:
            return ValidationError(text)
        if code in NOT_AUTHENTICATED:
            return NotAuthenticated(text)
        return TerminalError(text)
    return _classify_client_side(exc, service=service, subject=subject, setting=setting)


def _classify_client_side(
    exc: BotoCoreError, *, service: str, subject: str, setting: str | None
) -> SkybridgeError:
    detail = f"{type(exc).__name__}: {scrub(str(exc))}"
    if isinstance(exc, NETWORK_ERRORS):
        return TransientError(f"{service} unreachable or slow on {subject}: {detail}")
    if isinstance(exc, SETUP_ERRORS):
        return ConfigError(
            f"{service} client is not configured: {detail}", setting=setting, hint=SETUP_HINT
        )
    if isinstance(exc, ParamValidationError):
        return ValidationError(f"{service} rejected the request for {subject}: {detail}")
    return TerminalError(f"{service} client error on {subject}: {detail}")


def boto3_client(
    service: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    config: Config | None = None,
    setting: str | None = None,
) -> Any:
    """A boto3 client for ``service`` from its own session (``profile``: a named profile).

    Empty strings count as not given. A missing profile or region is a ConfigError.
    """
    try:
        # Any: boto3's stubs type ``client`` per literal service name; ours is a str.
        session: Any = boto3.session.Session(profile_name=profile or None)
        return session.client(
            service, region_name=region or None, endpoint_url=endpoint_url or None, config=config
        )
    except BotoCoreError as exc:
        raise _classify_client_side(
            exc, service=service, subject="client setup", setting=setting
        ) from None
