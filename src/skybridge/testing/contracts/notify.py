"""The contract every notify backend passes.

A concrete test class subclasses :class:`NotifierContract` and provides four fixtures:

``notify``
    A factory ``notify(**params) -> Notifier`` building a fresh notifier for an isolated
    destination. ``params`` are URL parameters (``dedup_window="60"``, ``rate="2/min"``) plus the
    keyword option ``clock``.
``delivered``
    ``delivered() -> list[str]``: what reached the destination so far, one text per message,
    oldest first (read from the receiving server, queue, emulator or captured stream).
``failing_notify``
    ``failing_notify(kind) -> (Notifier, retry_after)``: a notifier whose next delivery fails as
    ``kind`` says: ``"throttled"`` (429 or the channel's equivalent), ``"unavailable"`` (5xx or
    no connection) or ``"rejected"`` (4xx: wrong address, unknown topic). ``retry_after`` is the
    delay the channel announces, or ``None``.
``credential``
    A credential inside the notifier's URL that must never be shown, or ``None``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from skybridge.backends.notify import DeliveryStatus, Notification, Notifier, Severity
from skybridge.core.clock import ManualClock
from skybridge.core.errors import TerminalError, TransientError
from skybridge.core.secret import Secret
from skybridge.testing.canary import LogWatch

NotifyFactory = Callable[..., Notifier]
Delivered = Callable[[], list[str]]
FailingNotify = Callable[[str], tuple[Notifier, float | None]]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class NotifierContract:
    """Behaviour shared by all notifiers: delivery, dedup, rate limit, masking, error mapping."""

    def test_send_delivers(self, notify: NotifyFactory, delivered: Delivered) -> None:
        title = _unique("backup finished")
        result = notify().send(Notification(title=title, body="all 12 buckets copied"))
        assert result.status is DeliveryStatus.SENT
        payloads = delivered()
        assert len(payloads) == 1
        assert title in payloads[0]
        assert "all 12 buckets copied" in payloads[0]

    def test_severity_fields_and_link_are_delivered(
        self, notify: NotifyFactory, delivered: Delivered
    ) -> None:
        note = Notification(
            title=_unique("replication lag"),
            severity=Severity.CRITICAL,
            fields={"region": "eu-frankfurt-1", "lag_seconds": 420},
            link="https://dash.example.com/lag",
            source="datasync",
        )
        notify().send(note)
        (payload,) = delivered()
        assert "critical" in payload.lower()
        for text in ("region", "eu-frankfurt-1", "lag_seconds", "420", "datasync"):
            assert text in payload
        assert "https://dash.example.com/lag" in payload

    def test_duplicate_is_suppressed_within_window_and_sent_after(
        self, notify: NotifyFactory, delivered: Delivered
    ) -> None:
        clock = ManualClock()
        notifier = notify(dedup_window="60", clock=clock)
        note = Notification(title=_unique("disk full"), dedup_key="disk:/dev/sda1")
        assert notifier.send(note).sent
        clock.advance(59)
        second = notifier.send(note)
        assert second.status is DeliveryStatus.SUPPRESSED_DUPLICATE
        assert "disk:/dev/sda1" in second.reason
        assert len(delivered()) == 1
        clock.advance(2)
        third = notifier.send(note)
        assert third.sent
        assert third.suppressed_reported == 1
        payloads = delivered()
        assert len(payloads) == 2
        assert "1 similar alert suppressed" in payloads[1]

    def test_other_incidents_are_not_deduplicated(
        self, notify: NotifyFactory, delivered: Delivered
    ) -> None:
        notifier = notify(dedup_window="600", clock=ManualClock())
        for key in ("a", "b", "c"):
            assert notifier.send(Notification(title=_unique(key), dedup_key=key)).sent
        assert len(delivered()) == 3

    def test_rate_limit_suppresses_and_reports_count(
        self, notify: NotifyFactory, delivered: Delivered
    ) -> None:
        clock = ManualClock()
        notifier = notify(rate="2/min", clock=clock)
        results = [notifier.send(Notification(title=_unique("spike"))) for _ in range(5)]
        assert [r.status for r in results] == [DeliveryStatus.SENT] * 2 + [
            DeliveryStatus.RATE_LIMITED
        ] * 3
        assert len(delivered()) == 2
        clock.advance(30)  # one token back at 2 per minute
        after = notifier.send(Notification(title=_unique("spike")))
        assert after.sent
        assert after.suppressed_reported == 3
        payloads = delivered()
        assert len(payloads) == 3
        assert "3 similar alerts suppressed" in payloads[2]
        assert "similar alert" not in payloads[0]

    def test_secret_values_are_scrubbed(self, notify: NotifyFactory, delivered: Delivered) -> None:
        token = Secret(_unique("tok"))
        notify().send(Notification(title="rotation done", body=f"new token is {token.reveal()}"))
        (payload,) = delivered()
        assert token.reveal() not in payload
        assert "***" in payload

    def test_repr_masks_credentials(self, notify: NotifyFactory, credential: str | None) -> None:
        notifier = notify()
        shown = repr(notifier)
        assert shown.startswith(type(notifier).__name__ + "(")
        if credential is not None:
            assert credential not in shown
            assert credential not in str(notifier)

    def test_throttled_is_transient_with_retry_after(
        self, failing_notify: FailingNotify, credential: str | None
    ) -> None:
        notifier, retry_after = failing_notify("throttled")
        with pytest.raises(TransientError) as info:
            notifier.send(Notification(title=_unique("throttled")))
        assert info.value.retry_after == retry_after
        _assert_hidden(info.value, credential)

    def test_unavailable_is_transient(
        self, failing_notify: FailingNotify, credential: str | None
    ) -> None:
        notifier, _ = failing_notify("unavailable")
        with pytest.raises(TransientError) as info:
            notifier.send(Notification(title=_unique("unavailable")))
        _assert_hidden(info.value, credential)

    def test_rejected_is_terminal(
        self, failing_notify: FailingNotify, credential: str | None
    ) -> None:
        notifier, _ = failing_notify("rejected")
        with pytest.raises(TerminalError) as info:
            notifier.send(Notification(title=_unique("rejected")))
        _assert_hidden(info.value, credential)

    def test_failed_delivery_keeps_incident_open(
        self, failing_notify: FailingNotify, notify: NotifyFactory
    ) -> None:
        notifier, _ = failing_notify("unavailable")
        note = Notification(title=_unique("outage"), dedup_key="outage-1")
        with pytest.raises(TransientError):
            notifier.send(note)
        # The incident was not announced, so the next attempt must not count as a duplicate.
        assert notifier.dedup_store.claim("outage-1", now=notifier.clock.now(), ttl=1.0)

    def test_secrets_never_reach_a_log_call(
        self,
        notify: NotifyFactory,
        failing_notify: FailingNotify,
        credential: str | None,
        log_canary: LogWatch,
    ) -> None:
        if credential is not None:
            log_canary.add(credential)
        for value in log_canary.canaries:  # 1-7 characters, and a long one
            note = Notification(
                title=_unique("rotated"),
                body=f"new value {Secret(value).reveal()}",
                fields={"value": value},
                dedup_key=_unique("rotation"),
            )
            assert notify().send(note).sent
        notifier, _ = failing_notify("unavailable")
        with pytest.raises(TransientError):
            notifier.send(Notification(title=_unique("outage")))
        log_canary.assert_no_leaks()
        assert log_canary.events  # the sends were logged, without the values


def _assert_hidden(exc: BaseException, credential: str | None) -> None:
    if credential is not None:
        text = f"{exc} {exc!r} {getattr(exc, 'hint', '')}"
        assert credential not in text


def split_payloads(text: str) -> list[str]:
    """Split captured text output into messages, each starting with a severity marker."""
    chunks: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith(("[INFO]", "[WARNING]", "[CRITICAL]")) or not chunks:
            chunks.append(line)
        else:
            chunks[-1] += line
    return [c for c in chunks if c.strip()]


__all__ = ["Delivered", "FailingNotify", "NotifierContract", "NotifyFactory", "split_payloads"]
