"""The kit's ``ago``: how pages and CLIs show when something happened."""

from __future__ import annotations

import time

import pytest

from skybridge.apps.kit.timefmt import ago

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0 s ago"),
        (59.9, "59 s ago"),
        (60, "1 min ago"),
        (3599, "59 min ago"),
        (3600, "1 h ago"),
    ],
)
def test_the_last_day_is_relative(seconds: float, shown: str) -> None:
    assert ago(NOW - seconds, now=NOW) == shown


def test_older_times_are_dates_and_missing_ones_say_so() -> None:
    old = NOW - 2 * 86400
    assert ago(old, now=NOW) == time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(old))
    assert ago(None) == "never"
    assert ago(None, never="—") == "—"
    assert ago(NOW + 30, now=NOW) == "0 s ago"  # a clock a little ahead is not the future
