"""Structured JSON logging with secret redaction, and Prometheus metrics.

Redaction happens in one structlog processor that every event passes through: values of
:class:`~skybridge.core.secret.Secret` type are masked, keys that name credentials are masked,
and any known secret value copied into free text is scrubbed.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from skybridge.core.errors import SkybridgeError
from skybridge.core.secret import MASK, Secret, scrub

_SENSITIVE_KEYS = ("password", "secret_value", "token", "api_key", "private_key", "passphrase")

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
RETRIES = Counter(
    "skybridge_retries",
    "Retries of transient errors, by operation.",
    ["operation"],
    registry=METRICS,
)


def _is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return any(s in lowered for s in _SENSITIVE_KEYS)


def redact(value: Any, key: str = "") -> Any:
    """Return ``value`` with secrets masked, recursing into mappings and sequences."""
    if isinstance(value, Secret) or (key and _is_sensitive_key(key) and value is not None):
        return MASK
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bytes):
        return scrub(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [redact(v) for v in value]
    if isinstance(value, BaseException):
        return scrub(f"{type(value).__name__}: {value}")
    return value


def redact_processor(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets in every field, including rendered tracebacks."""
    for key in list(event_dict):
        event_dict[key] = redact(event_dict[key], key)
    return event_dict


def configure_logging(
    level: str = "INFO", *, json_output: bool = True, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging through one redacting pipeline."""
    out = stream or sys.stderr
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
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(out),
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


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``name``."""
    return structlog.get_logger(name)


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
