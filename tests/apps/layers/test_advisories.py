"""The OSV matcher: ranges as the OSV schema defines them, and the PyPA snapshot itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from skybridge.apps.layers.advisories import AdvisoryDatabase, _in_range
from skybridge.apps.layers.severity import severity_of
from skybridge.core.errors import ValidationError

from .conftest import ADVISORIES, needs_advisories


def _record(ident: str, events: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    affected = {
        "package": {"ecosystem": "PyPI", "name": "Demo_Pkg"},
        "ranges": [{"type": "ECOSYSTEM", "events": events}],
    }
    return {"id": ident, "affected": [affected], **extra}


@pytest.fixture
def database(tmp_path: Path) -> AdvisoryDatabase:
    records = [
        _record(
            "X-1",
            [
                {"introduced": "2.0.0"},
                {"fixed": "2.0.7"},
                {"introduced": "0"},
                {"fixed": "1.26.18"},
            ],
        ),
        _record("X-2", [{"introduced": "1.0"}, {"last_affected": "1.5"}]),
        _record("X-3", [{"introduced": "0"}], withdrawn="2024-01-01T00:00:00Z"),
        _record(
            "X-4",
            [{"introduced": "0"}, {"fixed": "3.0"}],
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        ),
    ]
    for record in records:
        (tmp_path / f"{record['id']}.json").write_text(json.dumps(record))
    return AdvisoryDatabase(tmp_path)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.26.17", ["X-1", "X-4"]),
        ("1.26.18", ["X-4"]),
        ("2.0.6", ["X-1", "X-4"]),
        ("2.0.7", ["X-4"]),
        ("1.5", ["X-1", "X-2", "X-4"]),
        ("1.5.1", ["X-1", "X-4"]),
        ("3.0", []),
    ],
)
def test_unsorted_ranges_and_last_affected(
    database: AdvisoryDatabase, version: str, expected: list[str]
) -> None:
    assert [a.id for a in database.affecting("demo-pkg", version)] == expected


def test_names_are_normalised_and_severity_is_scored(database: AdvisoryDatabase) -> None:
    found = {a.id: a for a in database.affecting("DEMO.pkg", "2.9")}
    assert found["X-4"].severity == "critical"
    assert found["X-4"].fixed == ("3.0",)


@given(st.lists(st.integers(0, 30), min_size=2, max_size=6, unique=True), st.integers(0, 31))
def test_ranges_match_intervals(bounds: list[int], probe: int) -> None:
    """Alternating introduced/fixed events in any order equal the sorted half-open intervals."""
    ordered = sorted(bounds)
    events = [{"introduced" if i % 2 == 0 else "fixed": str(b)} for i, b in enumerate(ordered)]
    pairs = list(zip(ordered[::2], [*ordered[1::2], 10**6], strict=False))
    expected = any(lo <= probe < hi for lo, hi in pairs)
    assert _in_range(Version(str(probe)), list(reversed(events))) == expected


def test_missing_database_says_where_to_point(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        AdvisoryDatabase(tmp_path / "nowhere")


def test_severity_from_database_specific_word() -> None:
    assert severity_of({"database_specific": {"severity": "MODERATE"}}) == "medium"
    assert severity_of({}) == "unknown"


@needs_advisories
def test_pypa_snapshot_knows_the_issue_examples() -> None:
    database = AdvisoryDatabase(ADVISORIES)
    requests = {a.id for a in database.affecting("requests", "2.30.0")}
    urllib3 = {a.id: a for a in database.affecting("urllib3", "1.26.17")}
    assert "PYSEC-2023-74" in requests
    assert "PYSEC-2023-212" in urllib3
    assert "1.26.18" in urllib3["PYSEC-2023-212"].fixed
    assert "PYSEC-2023-74" not in {a.id for a in database.affecting("requests", "2.31.0")}
    assert (
        "CVE-2023-32681"
        in next(
            a for a in database.affecting("requests", "2.30.0") if a.id == "PYSEC-2023-74"
        ).aliases
    )
