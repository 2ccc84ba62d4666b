"""oci-ons://: PublishMessage against the skybridge OCI emulator."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from skybridge.backends import notify
from skybridge.backends.notify import Notification, Notifier
from skybridge.backends.notify.oci_ons import OciOnsNotifier
from skybridge.core.errors import ConfigError, TerminalError, TransientError
from skybridge.testing.contracts.notify import NotifierContract
from skybridge.testing.oci import OciEmulator

pytestmark = pytest.mark.oci


@pytest.fixture
def topic(oci_emulator: OciEmulator) -> str:
    oci_emulator.faults.clear()
    return oci_emulator.create_topic(f"alerts-{uuid.uuid4().hex[:8]}")


def ons_url(topic_id: str, emulator: OciEmulator, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"endpoint": emulator.endpoint, **params}.items())
    return f"oci-ons://{topic_id}?{query}"


class TestOciOns(NotifierContract):
    @pytest.fixture
    def notify(self, topic: str, oci_emulator: OciEmulator) -> Callable[..., Notifier]:
        def build(clock: object = None, **params: str) -> Notifier:
            url = ons_url(topic, oci_emulator, **params)
            return notify.connect(url, clock=clock, config=oci_emulator.sdk_config())

        return build

    @pytest.fixture
    def delivered(self, topic: str, oci_emulator: OciEmulator) -> Callable[[], list[str]]:
        return lambda: [f"{m.title}\n{m.body}" for m in oci_emulator.published(topic)]

    @pytest.fixture
    def failing_notify(
        self, topic: str, oci_emulator: OciEmulator
    ) -> Callable[[str], tuple[Notifier, float | None]]:
        def build(kind: str) -> tuple[Notifier, float | None]:
            config = oci_emulator.sdk_config()
            if kind == "rejected":
                missing = topic[:-6] + "zzzzzz"
                return notify.connect(ons_url(missing, oci_emulator), config=config), None
            status = 429 if kind == "throttled" else 500
            oci_emulator.faults.inject("PublishMessage", status, times=1)
            return notify.connect(ons_url(topic, oci_emulator), config=config), None

        return build

    @pytest.fixture
    def credential(self, oci_emulator: OciEmulator) -> str:
        return str(oci_emulator.sdk_config()["key_content"]).splitlines()[1]


def test_publishes_raw_text_with_title(topic: str, oci_emulator: OciEmulator) -> None:
    notifier = notify.connect(ons_url(topic, oci_emulator), config=oci_emulator.sdk_config())
    delivery = notifier.send(
        Notification(title="vault drift", body="3 secrets differ", severity="warning")
    )
    (message,) = oci_emulator.published(topic)
    assert message.message_id == delivery.message_id
    assert message.message_type == "RAW_TEXT"
    assert message.title == "[WARNING] vault drift"
    assert message.body.startswith("[WARNING] vault drift\n\n3 secrets differ")


def test_sdk_does_not_retry_behind_our_back(topic: str, oci_emulator: OciEmulator) -> None:
    oci_emulator.reset_calls()
    oci_emulator.faults.inject("PublishMessage", 503, times=1)
    notifier = notify.connect(ons_url(topic, oci_emulator), config=oci_emulator.sdk_config())
    with pytest.raises(TransientError, match="503"):
        notifier.send(Notification(title="x"))
    assert oci_emulator.calls["PublishMessage"] == 1
    assert oci_emulator.published(topic) == []


def test_wrong_key_is_terminal(topic: str, oci_emulator: OciEmulator) -> None:
    config = oci_emulator.sdk_config(wrong_key=True)
    notifier = notify.connect(ons_url(topic, oci_emulator), config=config)
    with pytest.raises(TerminalError) as info:
        notifier.send(Notification(title="x"))
    assert "401" in str(info.value)
    assert "signature" in str(info.value)


def test_profile_from_config_file(topic: str, oci_emulator: OciEmulator, tmp_path: Path) -> None:
    config_file = oci_emulator.write_config(tmp_path, profile="ALERTS")
    url = ons_url(topic, oci_emulator, profile="ALERTS", config_file=str(config_file))
    notify.connect(url).send(Notification(title="from profile"))
    assert oci_emulator.published(topic)[0].title == "[INFO] from profile"


def test_missing_profile_is_config_error(tmp_path: Path, oci_emulator: OciEmulator) -> None:
    url = f"oci-ons://ocid1.onstopic.oc1.iad.abc?config_file={tmp_path / 'none'}"
    with pytest.raises(ConfigError) as info:
        notify.connect(url)
    assert info.value.setting == "backends.notify"
    assert "no usable OCI credentials" in str(info.value)


def test_not_a_topic_ocid() -> None:
    with pytest.raises(ConfigError, match="not a Notifications topic OCID"):
        notify.connect("oci-ons://my-topic")


def test_unknown_auth_mode_is_config_error() -> None:
    url = "oci-ons://ocid1.onstopic.oc1.iad.abc?auth=nonsense"
    with pytest.raises(ConfigError, match="auth must be one of"):
        notify.connect(url)


def test_repr(topic: str, oci_emulator: OciEmulator) -> None:
    notifier = notify.connect(ons_url(topic, oci_emulator), config=oci_emulator.sdk_config())
    assert isinstance(notifier, OciOnsNotifier)
    assert repr(notifier) == f"OciOnsNotifier(oci-ons://{topic})"


def test_ping_reads_topic(topic: str, oci_emulator: OciEmulator) -> None:
    oci_emulator.reset_calls()
    notify.connect(ons_url(topic, oci_emulator), config=oci_emulator.sdk_config()).ping()
    assert oci_emulator.calls["GetTopic"] == 1
    missing = topic[:-6] + "zzzzzz"
    with pytest.raises(TerminalError, match="404"):
        notify.connect(ons_url(missing, oci_emulator), config=oci_emulator.sdk_config()).ping()
