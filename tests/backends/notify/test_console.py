"""console://: rich text and JSON lines on a captured stream."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest

from skybridge.backends import notify
from skybridge.backends.notify import Notification, Notifier
from skybridge.backends.notify.console import ConsoleNotifier
from skybridge.core.errors import ConfigError, TransientError
from skybridge.testing.contracts.notify import FailingNotify, NotifierContract, split_payloads

NO_REMOTE = "console writes to a local stream: nothing can throttle or reject it"


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


class ConsoleContract(NotifierContract):
    format = "text"

    @pytest.fixture
    def stream(self) -> io.StringIO:
        return io.StringIO()

    @pytest.fixture
    def notify(self, stream: io.StringIO) -> Callable[..., Notifier]:
        def build(clock: object = None, **params: str) -> Notifier:
            query = "&".join(f"{k}={v}" for k, v in {"format": self.format, **params}.items())
            return notify.connect(f"console://?{query}", clock=clock, stream=stream)

        return build

    @pytest.fixture
    def delivered(self, stream: io.StringIO) -> Callable[[], list[str]]:
        if self.format == "json":
            return lambda: stream.getvalue().splitlines()
        return lambda: split_payloads(stream.getvalue())

    @pytest.fixture
    def failing_notify(self) -> Callable[[str], tuple[Notifier, float | None]]:
        def build(kind: str) -> tuple[Notifier, float | None]:
            if kind != "unavailable":
                raise NotImplementedError(NO_REMOTE)
            return notify.connect(f"console://?format={self.format}", stream=BrokenStream()), None

        return build

    @pytest.fixture
    def credential(self) -> None:
        return None

    @pytest.mark.xfail(strict=True, raises=NotImplementedError, reason=NO_REMOTE)
    def test_throttled_is_transient_with_retry_after(
        self, failing_notify: FailingNotify, credential: str | None
    ) -> None:
        super().test_throttled_is_transient_with_retry_after(failing_notify, credential)

    @pytest.mark.xfail(strict=True, raises=NotImplementedError, reason=NO_REMOTE)
    def test_rejected_is_terminal(
        self, failing_notify: FailingNotify, credential: str | None
    ) -> None:
        super().test_rejected_is_terminal(failing_notify, credential)


class TestConsoleText(ConsoleContract):
    format = "text"


class TestConsoleJson(ConsoleContract):
    format = "json"


def test_json_line_shape() -> None:
    stream = io.StringIO()
    notifier = notify.connect("console://?format=json", stream=stream)
    notifier.send(Notification(title="t", body="b", severity="warning", fields={"n": 1}))
    record = json.loads(stream.getvalue())
    assert record["title"] == "t"
    assert record["severity"] == "warning"
    assert record["fields"] == {"n": "1"}
    assert record["summary"] is None


def test_default_stream_is_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    notify.connect("console://").send(Notification(title="to stderr"))
    captured = capsys.readouterr()
    assert "[INFO] to stderr" in captured.err
    assert "[INFO] to stderr" not in captured.out


def test_unknown_format_is_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        notify.connect("console://?format=xml")
    assert info.value.setting == "backends.notify"


def test_broken_stream_maps_to_transient() -> None:
    notifier = ConsoleNotifier(format="json", stream=BrokenStream())
    with pytest.raises(TransientError, match="BrokenPipeError"):
        notifier.send(Notification(title="x"))
