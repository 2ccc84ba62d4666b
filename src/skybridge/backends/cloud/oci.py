"""OCI credentials, clients and error classification shared by the ``oci*`` backends.

Credentials, in order: the ``config`` option (an oci config dict), ``?auth=instance_principal``
or ``?auth=resource_principal``, else profile ``?profile=`` (default ``DEFAULT``) of
``?config_file=`` (default ``~/.oci/config``). ``?region=`` overrides the region of any of them.
Failures become :class:`~skybridge.core.errors.ConfigError` naming the caller's setting and
never carrying key material (only exception types, config key names and file paths).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import oci

from skybridge.core.errors import (
    ConfigError,
    Conflict,
    NotAuthenticated,
    NotFound,
    SkybridgeError,
    TerminalError,
    TransientError,
)
from skybridge.core.secret import scrub

API_KEY_AUTH = ("", "api_key", "config")
PRINCIPAL_AUTH = ("instance_principal", "resource_principal")
#: 409 codes that mean "busy right now", not "your request contradicts the state".
BUSY_CODES = frozenset({"IncorrectState", "LockConflict"})
#: What the SDK raises when it cannot reach the service (all are vendored-requests errors).
NETWORK_ERRORS: tuple[type[Exception], ...] = (oci._vendor.requests.exceptions.RequestException,)
AUTH_HINT = "check the OCI user OCID, fingerprint and API key (or the principal)"


@dataclass(frozen=True)
class OciCredentials:
    """An oci config dict and the signer to use instead of its API key (``None``: API key)."""

    config: dict[str, Any] = field(repr=False)  # may hold key_content
    signer: Any = field(default=None, repr=False)

    @property
    def region(self) -> str | None:
        return self.config.get("region")


def _problem(exc: BaseException) -> str:
    """``InvalidConfig: fingerprint missing``: the exception type and, for bad configs, the keys."""
    errors = getattr(exc, "errors", None)  # InvalidConfig: {setting: "missing"|"malformed"}
    detail = ", ".join(f"{k} {v}" for k, v in errors.items()) if isinstance(errors, dict) else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


#: The URL parameters that name a backend's credentials (see :func:`resolve_oci_credentials`).
CREDENTIAL_PARAMS = ("region", "auth", "profile", "config_file")


def credential_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The credential parameters (:data:`CREDENTIAL_PARAMS`) present in a URL's ``params``."""
    return {k: params[k] for k in CREDENTIAL_PARAMS if k in params}


def resolve_oci_credentials(
    params: Mapping[str, Any], config: Mapping[str, Any] | None = None, *, setting: str
) -> OciCredentials:
    """The credentials named by ``params`` (``auth``, ``config_file``, ``profile``, ``region``).

    Args:
        params: URL parameters (or options) of the backend.
        config: An oci config dict; it wins over ``auth`` and the config file.
        setting: The config key named in errors, e.g. ``backends.objects``.

    Raises:
        ConfigError: Unknown ``auth``, no principal here, unreadable or invalid config.
    """
    auth = str(params.get("auth") or "")
    if auth not in API_KEY_AUTH + PRINCIPAL_AUTH:
        raise ConfigError(
            f"OCI auth={auth!r} is unknown: auth must be one of api_key, "
            "instance_principal, resource_principal",
            setting=setting,
        )
    region = params.get("region") or None
    if config is None and auth in PRINCIPAL_AUTH:
        signer = _principal_signer(auth, setting)
        return OciCredentials({"region": region or getattr(signer, "region", None)}, signer)
    cfg = dict(config) if config is not None else _file_config(params, setting)
    if region:
        cfg["region"] = region
    try:
        oci.config.validate_config(dict(cfg))
    except (oci.exceptions.ClientError, ValueError) as exc:
        raise ConfigError(
            f"no usable OCI credentials: the OCI client configuration is invalid ({_problem(exc)})",
            setting=setting,
        ) from None
    return OciCredentials(cfg)


def _principal_signer(auth: str, setting: str) -> Any:
    try:
        if auth == "instance_principal":
            return oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        return oci.auth.signers.get_resource_principals_signer()
    except Exception as exc:  # the signers raise many kinds; keep only a scrubbed message
        raise ConfigError(
            f"no usable OCI credentials: OCI {auth.replace('_', ' ')} credentials are not "
            f"available here ({type(exc).__name__}: {scrub(str(exc))})",
            setting=setting,
            hint="run inside an OCI instance or function, or use an API key config",
        ) from None


def _file_config(params: Mapping[str, Any], setting: str) -> dict[str, Any]:
    path = params.get("config_file") or oci.config.DEFAULT_LOCATION
    profile = params.get("profile") or oci.config.DEFAULT_PROFILE
    try:
        return dict(oci.config.from_file(path, profile))
    except (oci.exceptions.ClientError, OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"no usable OCI credentials: cannot load the OCI client configuration profile "
            f"'{profile}' from {path} ({type(exc).__name__})",
            setting=setting,
            hint="pass ?config_file=...&profile=..., config=..., or ?auth=instance_principal",
        ) from None


def oci_retry_strategy(max_attempts: int) -> Any:
    """The SDK's exponential backoff with jitter over ``max_attempts`` tries (1: no retry)."""
    if max_attempts <= 1:
        return oci.retry.NoneRetryStrategy()
    return oci.retry.RetryStrategyBuilder(
        max_attempts=max_attempts,
        total_elapsed_time_seconds=120,
        retry_base_sleep_time_seconds=0.2,
        retry_max_wait_between_calls_seconds=5,
    ).get_retry_strategy()


def build_oci_client(
    client_cls: Any,
    credentials: OciCredentials,
    *,
    setting: str,
    endpoint: str | None = None,
    retries: int = 1,
    timeout: float | tuple[float, float] | None = None,
) -> Any:
    """``client_cls(config, ...)`` with the signer, ``service_endpoint`` and retry strategy.

    Args:
        client_cls: An SDK client class, e.g. ``oci.vault.VaultsClient``.
        credentials: From :func:`resolve_oci_credentials`.
        setting: The config key named in errors.
        endpoint: Another service endpoint (the OCI emulator in tests).
        retries: Attempts the SDK makes itself; 1 leaves retrying to :mod:`skybridge.core.retry`.
        timeout: Seconds, or ``(connect, read)``; ``None`` keeps the SDK's default.
    """
    kwargs: dict[str, Any] = {"retry_strategy": oci_retry_strategy(retries)}
    if timeout is not None:
        kwargs["timeout"] = timeout
    if credentials.signer is not None:
        kwargs["signer"] = credentials.signer
    if endpoint:
        kwargs["service_endpoint"] = endpoint
    try:
        return client_cls(credentials.config, **kwargs)
    except (oci.exceptions.ClientError, ValueError) as exc:
        raise ConfigError(
            f"OCI client configuration is invalid ({_problem(exc)})", setting=setting
        ) from None


def retry_after(headers: object) -> float | None:
    """The ``retry-after`` seconds of a response's headers, if it has a number there."""
    value = headers.get("retry-after") if isinstance(headers, Mapping) else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def is_transient(exc: oci.exceptions.ServiceError, codes: frozenset[str] = frozenset()) -> bool:
    """Throttled (429), a server error (5xx but 501, which no retry mends: the SDK's own retry
    strategy leaves it out too), a client-side failure (-1), or one of ``codes``."""
    status = int(exc.status)
    return status in (429, -1) or (status >= 500 and status != 501) or str(exc.code) in codes


def translate_service_error(
    exc: oci.exceptions.ServiceError,
    text: str,
    *,
    not_found: str | None = None,
    transient_codes: frozenset[str] = frozenset(),
) -> SkybridgeError:
    """The usual skybridge error for an OCI ``ServiceError``; ``text`` is its message.

    429/5xx and ``transient_codes`` -> TransientError (with ``retry-after``); 401 ->
    NotAuthenticated; 404 -> NotFound(``not_found`` or ``text``); 409 busy -> TransientError,
    other 409 and 412 -> Conflict; anything else -> TerminalError. Callers handle their special
    cases first.
    """
    status, code = int(exc.status), str(exc.code)
    if is_transient(exc, transient_codes):
        return TransientError(text, retry_after=retry_after(exc.headers))
    if status == 401:
        return NotAuthenticated(text, hint=AUTH_HINT)
    if status == 404:
        return NotFound(not_found or text)
    if status == 409 and code in BUSY_CODES:
        return TransientError(text)
    if status in (409, 412):
        return Conflict(text)
    return TerminalError(text)


def translate_client_side_error(
    exc: BaseException, *, unreachable: str, setting: str
) -> SkybridgeError | None:
    """Network trouble -> TransientError(``unreachable: <type>``), SDK misconfiguration ->
    ConfigError; ``None`` for anything else (the caller re-raises it)."""
    if isinstance(exc, NETWORK_ERRORS):
        return TransientError(f"{unreachable}: {type(exc).__name__}")
    if type(exc).__name__ == "CircuitBreakerError":
        return TransientError(f"{unreachable}: the SDK's circuit breaker is open")
    if isinstance(
        exc,
        oci.exceptions.ClientError | oci.exceptions.MissingEndpointForNonRegionalServiceClientError,
    ):
        return ConfigError(
            f"OCI client configuration is invalid ({_problem(exc)})", setting=setting
        )
    return None
