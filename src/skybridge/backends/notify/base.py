"""The notify contract: implementations deliver one message; the base de-duplicates and rate-limits.

An implementation writes one primitive, :meth:`Notifier._deliver`, that puts a rendered
:class:`~skybridge.backends.notify.message.Message` on its channel and translates the channel's
errors (network, 5xx, 429 -> ``TransientError``; other 4xx -> ``TerminalError``). The base class
decides whether a notification goes out at all:

* one incident (``dedup_key``) is announced once per ``dedup_window`` seconds;
* a token bucket caps messages per backend (``rate=10/min``);
* whatever was held back is summarised in the next message that goes out.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from skybridge.backends.notify.message import Message, Notification, Severity
from skybridge.backends.notify.policy import (
    DedupStore,
    DeliveryPolicy,
    MemoryDedupStore,
    RateLimit,
    TokenBucket,
)
from skybridge.core.backend import Backend
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import TransientError
from skybridge.core.observability import BACKEND_CALLS, BACKEND_LATENCY, get_logger
from skybridge.core.urls import BackendURL

__all__ = [
    "DedupStore",
    "Delivery",
    "DeliveryPolicy",
    "DeliveryStatus",
    "MemoryDedupStore",
    "Message",
    "Notification",
    "Notifier",
    "RateLimit",
    "Severity",
]

log = get_logger(__name__)


class DeliveryStatus(StrEnum):
    """What became of a notification."""

    SENT = "sent"
    SUPPRESSED_DUPLICATE = "suppressed-duplicate"
    RATE_LIMITED = "rate-limited"


@dataclass(frozen=True)
class Delivery:
    """The outcome of :meth:`Notifier.send`.

    Attributes:
        status: Sent, or why not.
        reason: A sentence for people and logs.
        message_id: The channel's id for the message, when it gives one.
        suppressed_reported: How many held-back messages this one summarised.
    """

    status: DeliveryStatus
    reason: str
    message_id: str | None = None
    suppressed_reported: int = 0

    @property
    def sent(self) -> bool:
        return self.status is DeliveryStatus.SENT


class Notifier(Backend):
    """Base of every notify backend.

    Args:
        policy: De-duplication window and rate limit (usually from the URL).
        clock: Time source; pass a ``ManualClock`` in tests.
        dedup_store: Where announced incidents are remembered (default: this process's memory).
    """

    #: Short name used in metrics and logs, e.g. ``webhook``.
    scheme: str = "notify"

    def __init__(
        self,
        *,
        policy: DeliveryPolicy | None = None,
        clock: Clock | None = None,
        dedup_store: DedupStore | None = None,
    ) -> None:
        self.policy = policy or DeliveryPolicy()
        self.clock = clock or SYSTEM_CLOCK
        self.dedup_store: DedupStore = dedup_store or MemoryDedupStore()
        self._bucket = (
            TokenBucket(self.policy.rate, now=self.clock.now()) if self.policy.rate else None
        )
        self._suppressed = 0
        self._lock = threading.Lock()

    @staticmethod
    def policy_options(url: BackendURL, options: dict[str, Any]) -> dict[str, Any]:
        """Pop the base's keyword options and read its URL parameters, for ``from_url``."""
        return {
            "policy": options.pop("policy", None) or DeliveryPolicy.from_params(url.params),
            "clock": options.pop("clock", None),
            "dedup_store": options.pop("dedup_store", None),
        }

    @abstractmethod
    def _deliver(self, message: Message) -> str | None:
        """Put ``message`` on the channel; return the channel's message id if it has one.

        Raises:
            TransientError: Network trouble, timeouts, throttling (429) or a 5xx answer.
            TerminalError: The channel refused the message or its configuration (other 4xx).
        """

    @abstractmethod
    def describe(self) -> str:
        """Where messages go, with credentials masked (scheme and host only for webhooks)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"

    def send(self, notification: Notification) -> Delivery:
        """Deliver ``notification`` unless it repeats an open incident or exceeds the rate limit.

        Returns:
            A :class:`Delivery` saying whether it went out, and if not, why.

        Raises:
            TransientError: Delivery failed and may work when retried.
            TerminalError: Delivery failed and will fail again.
        """
        now = self.clock.now()
        key = notification.dedup_key
        window = self.policy.dedup_window
        if key and window > 0 and not self.dedup_store.claim(key, now=now, ttl=window):
            return self._hold_back(
                DeliveryStatus.SUPPRESSED_DUPLICATE,
                f"incident '{key}' was already announced in the last {window:g}s",
            )
        if self._bucket is not None and not self._bucket.take(now):
            if key and window > 0:
                self.dedup_store.release(key)
            rate = self.policy.rate
            assert rate is not None
            return self._hold_back(
                DeliveryStatus.RATE_LIMITED,
                f"over the rate limit of {rate.count} per {rate.period:g}s",
            )
        return self._deliver_now(notification, release_key=key if window > 0 else None)

    def _hold_back(self, status: DeliveryStatus, reason: str) -> Delivery:
        with self._lock:
            self._suppressed += 1
        self._count("send", status.value)
        log.info("notification held back", scheme=self.scheme, status=status.value, reason=reason)
        return Delivery(status, reason)

    def _deliver_now(self, notification: Notification, *, release_key: str | None) -> Delivery:
        with self._lock:
            suppressed, self._suppressed = self._suppressed, 0
        message = Message.from_notification(notification, suppressed=suppressed)
        started = time.perf_counter()
        try:
            message_id = self._deliver(message)
        except Exception as exc:
            with self._lock:
                self._suppressed += suppressed
            if release_key:
                self.dedup_store.release(release_key)
            transient = isinstance(exc, TransientError | OSError)
            self._count("send", "transient" if transient else "error")
            if isinstance(exc, OSError):
                # A backend let a network error through; it is worth retrying, never leaks a URL.
                raise TransientError(f"{self.scheme} notifier: {type(exc).__name__}") from None
            raise
        finally:
            BACKEND_LATENCY.labels("notify", self.scheme, "send").observe(
                time.perf_counter() - started
            )
        self._count("send", "sent")
        log.info(
            "notification sent",
            scheme=self.scheme,
            severity=message.severity.value,
            dedup_key=message.dedup_key,
            suppressed=suppressed,
        )
        return Delivery(DeliveryStatus.SENT, "delivered", message_id, suppressed)

    def _count(self, operation: str, outcome: str) -> None:
        BACKEND_CALLS.labels("notify", self.scheme, operation, outcome).inc()
