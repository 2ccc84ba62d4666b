"""Notifications: console, Slack-compatible webhooks, SNS, OCI Notifications and SMTP.

``connect("webhook+https://hooks.slack.com/services/...?rate=10/min")`` builds a
:class:`Notifier`; ``notifier.send(Notification(title=..., severity="critical"))`` delivers it
once per incident and within the rate limit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from skybridge.backends.notify.base import (
    DedupStore,
    Delivery,
    DeliveryPolicy,
    DeliveryStatus,
    MemoryDedupStore,
    Message,
    Notification,
    Notifier,
    RateLimit,
    Severity,
)
from skybridge.core.registry import Registry

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
    "connect",
    "registry",
]

registry: Registry[Notifier] = Registry("notify", Notifier)  # type: ignore[type-abstract]
registry.register("console", "skybridge.backends.notify.console:ConsoleNotifier")
registry.register("webhook+https", "skybridge.backends.notify.webhook:WebhookNotifier")
registry.register("webhook+http", "skybridge.backends.notify.webhook:WebhookNotifier")
registry.register("sns", "skybridge.backends.notify.sns:SnsNotifier", extra="aws")
registry.register("oci-ons", "skybridge.backends.notify.oci_ons:OciOnsNotifier", extra="oci")
registry.register("smtp", "skybridge.backends.notify.smtp:SmtpNotifier")
registry.register("smtps", "skybridge.backends.notify.smtp:SmtpNotifier")


def _quote_arn(url: str) -> str:
    # An ARN location (sns://arn:aws:sns:REGION:ACCOUNT:topic) has colons that URL parsing reads
    # as a port; quoting them keeps the ARN intact in ``BackendURL.rest``.
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "sns" or not sep:
        return url
    location, qsep, query = rest.partition("?")
    return f"{scheme}://{quote(location, safe='/')}{qsep}{query}"


def connect(url: str, *, setting: str | None = "backends.notify", **options: Any) -> Notifier:
    """Build the notifier for ``url``.

    Args:
        url: A notify URL, e.g. ``console://``, ``webhook+https://host/path``,
            ``sns://arn:aws:sns:us-east-1:123456789012:alerts``, ``oci-ons://<topic-ocid>``,
            ``smtp://user:pass@host:587?from=a@x&to=b@y&starttls=true``. Every scheme accepts
            ``dedup_window`` (seconds) and ``rate`` (``10/min``).
        setting: The config key named in errors.
        **options: ``clock``, ``dedup_store``, ``policy`` and implementation options.
    """
    return registry.connect(_quote_arn(url), setting=setting, **options)
