"""Event times: ISO 8601 text, epoch seconds or milliseconds, as numbers or as text."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.apps.features.durations import parse_event_time
from skybridge.apps.features.tabular import read_rows, write_rows
from skybridge.core.errors import ValidationError

SECONDS = 1796600652.0  # 2026-12-06T23:44:12Z


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1796600652, SECONDS),
        (1796600652000, SECONDS),
        ("1796600652", SECONDS),
        ("1796600652000", SECONDS),
        (" 1796600652.5 ", SECONDS + 0.5),
        ("2026-12-06T23:44:12Z", SECONDS),
        ("20261206", 1796515200.0),  # an ISO basic date, not epoch seconds: 8 digits
    ],
)
def test_every_form_of_a_time_reads_the_same(value: object, seconds: float) -> None:
    assert parse_event_time(value, "ts") == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["yesterday", "12345", "1796600652x", True, None])
def test_what_is_no_time_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(ValidationError, match="'ts'"):
        parse_event_time(value, "ts")


def test_a_training_set_written_as_parquet_reads_back(tmp_path: Path) -> None:
    """Mixed ISO and epoch times make a text column in Parquet; read back, each is a time."""
    path = tmp_path / "set.parquet"
    write_rows(path, [{"ts": "2026-12-06T23:44:12Z"}, {"ts": 1796600652}])
    rows = read_rows(path)
    assert [parse_event_time(r["ts"], "ts") for r in rows] == [SECONDS, SECONDS]
