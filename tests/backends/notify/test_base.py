"""The notify base: policy parsing, dedup and rate limit under threads, failures, the model."""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Self

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.backends import notify
from skybridge.backends.notify import (
    DedupStore,
    DeliveryPolicy,
    DeliveryStatus,
    MemoryDedupStore,
    Message,
    Notification,
    Notifier,
    RateLimit,
)
from skybridge.core.clock import ManualClock
from skybridge.core.errors import ConfigError, TerminalError, TransientError
from skybridge.core.observability import METRICS
from skybridge.core.urls import BackendURL


class Recorder(Notifier):
    """Keeps messages in a list; fails the next deliveries when told to."""

    scheme = "recorder"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **base: Any) -> None:
        super().__init__(**base)
        self.messages: list[Message] = []
        self.failures: list[Exception] = []

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        return cls(**cls.policy_options(url, options))

    def describe(self) -> str:
        return "recorder://"

    def ping(self) -> None:
        pass

    def _deliver(self, message: Message) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.messages.append(message)
        return str(len(self.messages))


def recorder(query: str = "", **options: Any) -> Recorder:
    return Recorder.from_url(BackendURL.parse(f"recorder://?{query}"), **options)


@pytest.mark.parametrize(
    ("text", "count", "period"),
    [
        ("10/min", 10, 60.0),
        ("1/s", 1, 1.0),
        ("100/hour", 100, 3600.0),
        ("5/30s", 5, 30.0),
        ("2 / minutes", 2, 60.0),
        ("7/day", 7, 86400.0),
    ],
)
def test_rate_parse(text: str, count: int, period: float) -> None:
    assert RateLimit.parse(text) == RateLimit(count, period)


@pytest.mark.parametrize("text", ["", "10", "0/min", "ten/min", "10/fortnight", "-1/s", "1/"])
def test_bad_rate_is_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        RateLimit.parse(text)
    assert info.value.setting == "backends.notify"


@given(st.integers(1, 10**6), st.sampled_from(["s", "sec", "m", "min", "minute", "h", "hours"]))
def test_rate_parse_property(count: int, unit: str) -> None:
    seconds = {"s": 1, "sec": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hours": 3600}
    assert RateLimit.parse(f"{count}/{unit}") == RateLimit(count, float(seconds[unit]))


@pytest.mark.parametrize("window", ["-1", "soon"])
def test_bad_dedup_window(window: str) -> None:
    with pytest.raises(ConfigError, match="dedup_window"):
        DeliveryPolicy.from_params({"dedup_window": window})


def test_default_policy() -> None:
    assert DeliveryPolicy.from_params({}) == DeliveryPolicy(3600.0, None)


def test_zero_window_turns_dedup_off() -> None:
    notifier = recorder("dedup_window=0")
    note = Notification(title="t", dedup_key="k")
    assert notifier.send(note).sent
    assert notifier.send(note).sent


def test_without_dedup_key_nothing_is_deduplicated() -> None:
    notifier = recorder()
    assert all(notifier.send(Notification(title="same")).sent for _ in range(3))


def test_concurrent_duplicates_go_out_once() -> None:
    notifier = recorder(clock=ManualClock())
    barrier = threading.Barrier(8)
    results: list[DeliveryStatus] = []

    def worker() -> None:
        barrier.wait()
        for _ in range(25):
            results.append(notifier.send(Notification(title="t", dedup_key="same")).status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(DeliveryStatus.SENT) == 1
    assert results.count(DeliveryStatus.SUPPRESSED_DUPLICATE) == 199
    assert len(notifier.messages) == 1


def test_concurrent_sends_respect_rate_and_count_suppressed() -> None:
    clock = ManualClock()
    notifier = recorder("rate=10/min", clock=clock)
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        for i in range(25):
            notifier.send(Notification(title=f"t{i}"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(notifier.messages) == 10
    clock.advance(6)
    assert notifier.send(Notification(title="next")).suppressed_reported == 90
    assert notifier.messages[-1].suppressed_summary == "90 similar alerts suppressed"


def test_rate_limited_duplicate_key_stays_open() -> None:
    clock = ManualClock()
    notifier = recorder("rate=1/min", clock=clock)
    assert notifier.send(Notification(title="a")).sent
    note = Notification(title="b", dedup_key="incident")
    assert notifier.send(note).status is DeliveryStatus.RATE_LIMITED
    clock.advance(60)
    assert notifier.send(note).sent  # not a duplicate: the first attempt never went out


def test_failed_delivery_keeps_suppressed_count_for_next_message() -> None:
    clock = ManualClock()
    notifier = recorder("rate=1/min", clock=clock)
    notifier.send(Notification(title="first"))
    notifier.send(Notification(title="held 1"))
    notifier.send(Notification(title="held 2"))
    clock.advance(60)
    notifier.failures.append(TransientError("down"))
    with pytest.raises(TransientError):
        notifier.send(Notification(title="fails", dedup_key="x"))
    clock.advance(60)
    delivery = notifier.send(Notification(title="works", dedup_key="x"))
    assert delivery.sent
    assert delivery.suppressed_reported == 2
    assert notifier.messages[-1].suppressed == 2


def test_os_errors_become_transient_and_others_pass_through() -> None:
    notifier = recorder()
    notifier.failures += [ConnectionResetError(104, "reset by peer"), TerminalError("bad")]
    with pytest.raises(TransientError, match="recorder notifier: ConnectionResetError"):
        notifier.send(Notification(title="x"))
    with pytest.raises(TerminalError):
        notifier.send(Notification(title="x"))


class DictStore:
    """A third-party store: only the two protocol methods."""

    def __init__(self) -> None:
        self.held: dict[str, float] = {}

    def claim(self, key: str, *, now: float, ttl: float) -> bool:
        if self.held.get(key, 0.0) > now:
            return False
        self.held[key] = now + ttl
        return True

    def release(self, key: str) -> None:
        self.held.pop(key, None)


def test_shared_dedup_store_spans_notifiers() -> None:
    store = DictStore()
    assert isinstance(store, DedupStore)
    clock = ManualClock()
    one = recorder("dedup_window=120", clock=clock, dedup_store=store)
    two = recorder("dedup_window=120", clock=clock, dedup_store=store)
    note = Notification(title="t", dedup_key="incident-7")
    assert one.send(note).sent
    assert two.send(note).status is DeliveryStatus.SUPPRESSED_DUPLICATE
    assert store.held == {"incident-7": clock.now() + 120}


def test_memory_store_expires() -> None:
    store = MemoryDedupStore()
    assert store.claim("k", now=0.0, ttl=10)
    assert not store.claim("k", now=9.9, ttl=10)
    assert store.claim("k", now=10.0, ttl=10)
    store.release("k")
    assert store.claim("k", now=10.5, ttl=10)


def test_metrics_count_outcomes() -> None:
    def value(outcome: str) -> float:
        labels = {"family": "notify", "scheme": "recorder", "operation": "send", "outcome": outcome}
        return METRICS.get_sample_value("skybridge_backend_calls_total", labels) or 0.0

    sent, limited = value("sent"), value("rate-limited")
    notifier = recorder("rate=1/min", clock=ManualClock())
    notifier.send(Notification(title="a"))
    notifier.send(Notification(title="b"))
    assert value("sent") == sent + 1
    assert value("rate-limited") == limited + 1


def test_notification_model() -> None:
    note = Notification(title="t", text="body via alias", fields={"n": 3, "ok": True})
    assert note.body == "body via alias"
    assert note.fields == {"n": "3", "ok": "True"}
    with pytest.raises(pydantic.ValidationError):
        Notification(title="")
    with pytest.raises(pydantic.ValidationError):
        Notification(title="t", severity="urgent")
    with pytest.raises(pydantic.ValidationError):
        Notification(title="t", link="not a url")
    with pytest.raises(pydantic.ValidationError):
        Notification(title="t", colour="red")


def test_plain_text_rendering() -> None:
    message = Message.from_notification(
        Notification(
            title="t",
            body="b",
            severity="critical",
            fields={"k": "v"},
            link="https://x.example/r",
            source="rag",
        ),
        suppressed=1,
    )
    assert message.plain_text() == (
        "[CRITICAL] t\n\nb\n\nk: v\n\nhttps://x.example/r\n\n"
        "severity: critical | source: rag | 1 similar alert suppressed"
    )


def test_unknown_scheme_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        notify.connect("pager://x")
    assert info.value.setting == "backends.notify"
    assert "webhook+https://" in str(info.value)
    assert set(notify.registry.schemes()) >= {
        "console",
        "webhook+https",
        "webhook+http",
        "sns",
        "oci-ons",
        "smtp",
        "smtps",
    }
