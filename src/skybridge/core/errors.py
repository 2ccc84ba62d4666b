"""The one error tree of skybridge.

Every backend translates its native errors (botocore, oci, redis, SQLAlchemy...) into these at
its boundary, so apps, the CLI and the HTTP service only ever see ``SkybridgeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error names the value it refuses without
    echoing a huge one back."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


class SkybridgeError(Exception):
    """Root of every error skybridge raises on purpose."""

    #: HTTP status the service answers with when this error escapes a route.
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(SkybridgeError):
    """A setting is missing or wrong; ``setting`` names it (for example ``backends.kv``)."""

    http_status = 400

    def __init__(self, message: str, *, setting: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.setting = setting

    def __str__(self) -> str:
        text = super().__str__()
        if self.setting and self.setting not in text:
            return f"{self.setting}: {text}"
        return text


class ValidationError(SkybridgeError):
    """Input does not have the shape or value the operation needs."""

    http_status = 422


class PermissionDenied(SkybridgeError):
    """The caller is known but its token does not hold the scope this needs."""

    http_status = 403


class NotFound(SkybridgeError):
    """The named thing does not exist."""

    http_status = 404


class Conflict(SkybridgeError):
    """The write lost a race or would break a uniqueness or version rule."""

    http_status = 409


class TransientError(SkybridgeError):
    """Worth retrying: throttling, timeouts, 5xx, connection resets.

    ``retry_after`` (seconds) carries a server's hint when it gave one.
    """

    http_status = 503

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class TerminalError(SkybridgeError):
    """Will fail the same way if retried: permission denied, payload too large, bad request."""

    http_status = 502


class NotAuthenticated(TerminalError):
    """A cloud service refused the credentials themselves (a key deleted, expired or not the
    one it knows): reading them again may help, retrying with the same ones will not."""


class DamagedState(TerminalError):
    """A file of skybridge's own state is damaged or gone: an operator must restore it."""

    http_status = 503


class MissingDependency(SkybridgeError, ImportError):
    """An optional package is not installed; the message carries the ``pip install`` line."""

    http_status = 500

    def __init__(self, package: str, extra: str, *, feature: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package",
            hint=f'pip install "skybridge[{extra}]"',
        )
        self.package = package
        self.extra = extra


def parse_item(field: str, index: int, parse: Callable[[Any], T], raw: Any) -> T:
    """``parse(raw)`` for item ``index`` of the list ``field``: a :class:`ValidationError` it
    raises names the item first (``events[3]: ...``), so a client finds it in a long list."""
    try:
        return parse(raw)
    except ValidationError as exc:
        raise ValidationError(f"{field}[{index}]: {exc.message}", hint=exc.hint) from None
