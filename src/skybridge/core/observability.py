"""Structured JSON logging with secret redaction, and Prometheus metrics.

Redaction happens in one structlog processor that every event passes through: values of
:class:`~skybridge.core.secret.Secret` type are masked, keys that name credentials are masked,
and any known secret value copied into free text (or passed whole as a field) is scrubbed.

A secret reaching a log call at all is a defect, even when redaction hides it, so the processor
also flags the event: field ``secret_in_log`` names the fields it cleaned, and the counter
``skybridge_log_secrets_redacted`` counts such events for alerting. SDK loggers that write
request URLs and bodies (botocore, httpx, ...) are held at WARNING or above.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from skybridge.core.errors import SkybridgeError
from skybridge.core.secret import MASK, Secret, is_known_secret, scrub

_SENSITIVE_KEYS = ("password", "secret_value", "token", "api_key", "private_key", "passphrase")
#: The field a redacted event carries, naming the fields where a secret was found.
SECRET_IN_LOG = "secret_in_log"  # noqa: S105 (a field name)
#: Loggers of SDKs that log request URLs or bodies (webhook tokens, secret values) below WARNING.
QUIET_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "httpx", "httpcore", "oci")

#: The registry ``/metrics`` exposes. Apps create their metrics against it.
METRICS = CollectorRegistry(auto_describe=True)

BACKEND_CALLS = Counter(
    "skybridge_backend_calls",
    "Calls made by backends to their service, by family, scheme, operation and outcome.",
    ["family", "scheme", "operation", "outcome"],
    registry=METRICS,
)
BACKEND_LATENCY = Histogram(
    "skybridge_backend_call_seconds",
    "Latency of backend calls.",
    ["family", "scheme", "operation"],
    registry=METRICS,
)
LOG_SECRETS_REDACTED = Counter(
    "skybridge_log_secrets_redacted",
    "Log events in which a secret (a Secret object or a known value) reached a log call.",
    registry=METRICS,
)
RETRIES = Counter(
    "skybridge_retries",
    "Retries of transient errors, by operation.",
    ["operation"],
    registry=METRICS,
)


def _is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return any(s in lowered for s in _SENSITIVE_KEYS)


def redact(value: Any, key: str = "", *, found: list[str] | None = None) -> Any:
    """Return ``value`` with secrets masked, recursing into mappings and sequences.

    Args:
        value: A log field's value.
        key: The field's name (a name that marks a credential masks any value).
        found: If given, collects the names of the fields where a secret itself was found
            (a :class:`Secret` object or a known secret value), as opposed to a value masked
            only for its field name.
    """
    if isinstance(value, Secret):
        _note(found, key)
        return MASK
    if key and _is_sensitive_key(key) and value is not None:
        return MASK
    if isinstance(value, str | bytes):
        return _redact_text(value, key, found)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k), found=found) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [redact(v, key, found=found) for v in value]
    if isinstance(value, BaseException):
        return _redact_text(f"{type(value).__name__}: {value}", key, found)
    return value


def _redact_text(value: str | bytes, key: str, found: list[str] | None) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if is_known_secret(text):
        _note(found, key)
        return MASK
    cleaned = scrub(text)
    if cleaned != text:
        _note(found, key)
    return cleaned


def _note(found: list[str] | None, key: str) -> None:
    if found is not None and (key or "?") not in found:
        found.append(key or "?")


def redact_processor(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets in every field, including rendered tracebacks.

    An event in which a secret itself was found gets ``secret_in_log`` (the fields) and is
    counted in ``skybridge_log_secrets_redacted``.
    """
    found: list[str] = []
    for key in list(event_dict):
        event_dict[key] = redact(event_dict[key], key, found=found)
    if found:
        event_dict[SECRET_IN_LOG] = found
        LOG_SECRETS_REDACTED.inc()
    return event_dict


def configure_logging(
    level: str = "INFO", *, json_output: bool | None = True, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging through one redacting pipeline.

    ``json_output=None`` writes JSON lines unless the stream is a terminal.
    """
    out = stream or sys.stderr
    if json_output is None:
        json_output = not (hasattr(out, "isatty") and out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    structlog.configure(
        processors=[_add_logger_name, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=partial(_NamedPrintLogger, out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    quiet = max(logging.WARNING, root.level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _AlreadyLogged) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(_AlreadyLogged())


class _NamedPrintLogger(structlog.PrintLogger):
    """structlog's print logger, keeping the name :func:`get_logger` was given."""

    def __init__(self, file: Any, name: str | None = None) -> None:
        super().__init__(file)
        self.name = name


def _add_logger_name(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
    name = getattr(logger, "name", None)
    if name:
        event.setdefault("logger", name)
    return event


def get_logger(name: str) -> Any:
    """A structlog logger whose events carry ``logger``: ``name`` (as stdlib records do)."""
    return structlog.get_logger(name)


def error_summary(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (at most ``limit`` characters): what a log line
    may say of an error. A database error's later lines quote the statement and the row
    values it was given; they stay out of logs."""
    lines = str(exc).splitlines()
    first = lines[0][:limit] if lines else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def error_origin(exc: BaseException) -> str | None:
    """Where ``exc`` was raised: ``file.py:123 in function`` (the innermost frame)."""
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"{Path(code.co_filename).name}:{tb.tb_lineno} in {code.co_name}"


class _AlreadyLogged(logging.Filter):
    """Drops uvicorn's record of an exception the service's own handler logged (``http.unhandled``,
    with its traceback): Starlette re-raises it after answering 500, and uvicorn logs it again."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Exception in ASGI application")


@contextmanager
def observe_call(family: str, scheme: str, operation: str) -> Iterator[None]:
    """Count one backend call in ``BACKEND_CALLS`` and time it in ``BACKEND_LATENCY``.

    The outcome is ``ok``, the class name of a :class:`SkybridgeError` raised, or ``error``.
    """
    start = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except SkybridgeError as exc:
        outcome = type(exc).__name__
        raise
    except Exception:
        outcome = "error"
        raise
    finally:
        BACKEND_CALLS.labels(family, scheme, operation, outcome).inc()
        BACKEND_LATENCY.labels(family, scheme, operation).observe(time.perf_counter() - start)
