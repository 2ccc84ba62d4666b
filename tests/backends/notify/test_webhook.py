"""webhook+http(s)://: Slack-compatible JSON against a local receiver."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from skybridge.backends import notify
from skybridge.backends.notify import Notification, Notifier, Severity
from skybridge.backends.notify.webhook import WebhookNotifier, retry_after_seconds
from skybridge.core.errors import ConfigError, TransientError
from skybridge.testing.contracts.notify import NotifierContract

from .conftest import HttpReceiver

HOOK_PATH = "/services/T0123/B0456/hookSecretPart42"


def _url(receiver: HttpReceiver, path: str = HOOK_PATH, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"webhook+{receiver.url}{path}" + (f"?{query}" if query else "")


class TestWebhook(NotifierContract):
    @pytest.fixture
    def notify(self, http_receiver: HttpReceiver) -> Callable[..., Notifier]:
        def build(clock: object = None, **params: str) -> Notifier:
            return notify.connect(_url(http_receiver, **params), clock=clock)

        return build

    @pytest.fixture
    def delivered(self, http_receiver: HttpReceiver) -> Callable[[], list[str]]:
        return lambda: [r.body.decode() for r in http_receiver.requests]

    @pytest.fixture
    def failing_notify(
        self, http_receiver: HttpReceiver
    ) -> Callable[[str], tuple[Notifier, float | None]]:
        def build(kind: str) -> tuple[Notifier, float | None]:
            if kind == "throttled":
                http_receiver.reply_next(429, b"rate_limited", {"Retry-After": "7"})
                return notify.connect(_url(http_receiver)), 7.0
            if kind == "unavailable":
                http_receiver.reply_next(500, f"boom at {HOOK_PATH}".encode())
            else:
                http_receiver.reply_next(404, f"no_service {HOOK_PATH}".encode())
            return notify.connect(_url(http_receiver)), None

        return build

    @pytest.fixture
    def credential(self) -> str:
        return "hookSecretPart42"


def test_payload_is_slack_blocks(http_receiver: HttpReceiver) -> None:
    notifier = notify.connect(_url(http_receiver))
    notifier.send(
        Notification(
            title="cost spike",
            body="EC2 spend +40% day over day",
            severity=Severity.WARNING,
            fields={"account": "prod", "delta": "+40%"},
            link="https://costs.example.com/d/1",
            source="costs",
        )
    )
    (request,) = http_receiver.requests
    assert request.path == HOOK_PATH
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["text"].startswith("[WARNING] cost spike")
    types = [b["type"] for b in body["blocks"]]
    assert types == ["header", "section", "section", "context"]
    assert body["blocks"][0]["text"] == {"type": "plain_text", "text": "[WARNING] cost spike"}
    assert {"type": "mrkdwn", "text": "*account*\nprod"} in body["blocks"][2]["fields"]
    context = body["blocks"][3]["elements"][0]["text"]
    assert "<https://costs.example.com/d/1|open>" in context
    assert body["skybridge"]["severity"] == "warning"


def test_slack_limits_are_respected(http_receiver: HttpReceiver) -> None:
    notifier = notify.connect(_url(http_receiver))
    many = {f"f{i}": "v" for i in range(15)}
    notifier.send(Notification(title="t" * 400, body="b" * 5000, fields=many))
    body = json.loads(http_receiver.requests[0].body)
    assert len(body["blocks"][0]["text"]["text"]) == 150
    assert len(body["blocks"][1]["text"]["text"]) == 3000
    assert len(body["blocks"][2]["fields"]) == 10
    assert len(body["skybridge"]["fields"]) == 15


def test_repr_and_errors_show_only_scheme_and_host(http_receiver: HttpReceiver) -> None:
    notifier = notify.connect(_url(http_receiver))
    assert repr(notifier) == f"WebhookNotifier(webhook+{http_receiver.url}/***)"
    http_receiver.reply_next(503, b"")
    with pytest.raises(TransientError) as info:
        notifier.send(Notification(title="x"))
    assert str(info.value) == f"webhook {http_receiver.url} answered 503"
    assert info.value.retry_after is None


def test_unreachable_receiver_is_transient() -> None:
    from skybridge.testing.servers import free_port

    notifier = notify.connect(f"webhook+http://127.0.0.1:{free_port()}{HOOK_PATH}?timeout=2")
    with pytest.raises(TransientError) as info:
        notifier.send(Notification(title="x"))
    assert "hookSecretPart42" not in str(info.value)
    assert "unreachable" in str(info.value)


def test_timeout_option_and_extra_query_kept(http_receiver: HttpReceiver) -> None:
    notifier = notify.connect(_url(http_receiver, timeout="3", sig="abc", rate="5/s"))
    assert isinstance(notifier, WebhookNotifier)
    assert notifier._client.timeout.read == 3.0
    notifier.send(Notification(title="x"))
    assert http_receiver.requests[0].path == f"{HOOK_PATH}?sig=abc"


def test_retry_after_http_date() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_ping_reaches_receiver(http_receiver: HttpReceiver) -> None:
    notify.connect(_url(http_receiver)).ping()
    assert http_receiver.requests == []  # a HEAD to the host, nothing posted


def test_https_scheme_builds_https_target() -> None:
    notifier = notify.connect("webhook+https://hooks.example.com/services/X/Y/Z")
    assert repr(notifier) == "WebhookNotifier(webhook+https://hooks.example.com/***)"


def test_bad_rate_names_the_setting() -> None:
    with pytest.raises(ConfigError) as info:
        notify.connect("webhook+https://hooks.example.com/x?rate=often")
    assert info.value.setting == "backends.notify"
    assert "COUNT/PERIOD" in str(info.value)


def test_core_retry_honours_transient_errors(http_receiver: HttpReceiver) -> None:
    from skybridge.core.retry import RetryPolicy, call_with_retry

    notifier = notify.connect(_url(http_receiver))
    http_receiver.reply_next(429, b"", {"Retry-After": "0"})
    http_receiver.reply_next(502, b"")
    waits: list[float] = []
    delivery = call_with_retry(
        lambda: notifier.send(Notification(title="eventually", dedup_key="retry-1")),
        RetryPolicy(attempts=3, base_delay=0.0),
        operation="notify",
        sleep=waits.append,
    )
    assert delivery.sent
    assert len(http_receiver.requests) == 3
    assert len(waits) == 2
