"""The conversion's SQL pieces: ``null_text`` (guarded for speed) reads exactly as its plain
definition does, and tags given as JSON become folded keys and values whatever the JSON holds."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybridge.apps.costs.convert import connect
from skybridge.apps.costs.ingest import CostStore

from .conftest import DATA

#: What ``null_text`` means: blank, or NULL in any case with any padding trim removes.
PLAIN = "CASE WHEN v IS NULL OR trim(v) = '' OR upper(trim(v)) = 'NULL' THEN NULL ELSE v END"
#: Characters around the guard's edges: spaces trim removes (ASCII and Unicode), ones it keeps
#: (tab, control, DEL), the letters of NULL in both cases, printable ASCII at both ends, UTF-8.
EDGES = " \t\x01\x7f\u00a0\u2003\u3000nNuUlL!~AZaz0é€"


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return connect()


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.none() | st.text(alphabet=EDGES, max_size=8), min_size=1, max_size=40))
def test_null_text_reads_as_its_plain_definition(
    con: duckdb.DuckDBPyConnection, values: list[str | None]
) -> None:
    padded = [*values, " NULL ", "null", "\u3000Null\u00a0", "", "  ", "NULLs", "N", "\tNULL"]
    rows = con.execute(
        f"SELECT null_text(v) IS NOT DISTINCT FROM ({PLAIN}) FROM unnest(?) t(v)", [padded]
    ).fetchall()
    assert all(same for (same,) in rows), padded


TAGS = {
    "plain": '{"user:CostCenter": "CC-101", "env": "prod"}',
    "nested": '{"cost-center": "CC-202", "owner": {"team": "data"}, "count": 3}',
    "duplicate": '{"cost_center": "CC-303", "CostCenter": "CC-999"}',
    "array": '["cost_center", "CC-101"]',
    "broken": '{"cost_center": "CC-1',
    "none": "NULL",
}


def test_json_tags_of_every_shape_become_folded_keys_and_values(
    store: CostStore, tmp_path: Path
) -> None:
    path = tmp_path / "tags.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        header = ["BilledCost", "EffectiveCost", "ChargePeriodStart", "ProviderName"]
        writer.writerow([*header, "ResourceId", "Tags"])
        for name, tags in TAGS.items():
            writer.writerow(["1", "1", "2024-09-01 00:00:00", "AWS", name, tags])
    result = store.ingest_file(path)
    assert (result.rows, result.rejected) == (len(TAGS), 0)  # bad tags never reject a row
    with store.data() as data:
        rows = data.rows(
            "SELECT ResourceId, x_TagKeys, x_TagValues, tag_value(x_TagKeys, x_TagValues, "
            "'cost_center') FROM costs ORDER BY ResourceId"
        )
    found = {r: (k, v, cc) for r, k, v, cc in rows}
    assert found["plain"] == (["costcenter", "env"], ["CC-101", "prod"], "CC-101")
    assert found["nested"] == (
        ["costcenter", "owner", "count"],
        ["CC-202", '{"team":"data"}', "3"],
        "CC-202",
    )
    assert found["duplicate"][2] == "CC-303"  # the first key of a shape wins
    for name in ("array", "broken", "none"):
        assert found[name] == ([], [], None), name


def test_a_read_only_folder_is_named_even_when_the_cleanup_fails_too(
    store: CostStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only file system even unlinking a missing file fails (EROFS): that must not
    hide the error saying the costs folder must be writable."""
    import errno

    from skybridge.apps.costs import convert
    from skybridge.core.errors import ConfigError

    def refuse_write(*args: object) -> None:
        tmp = args[-1]
        raise duckdb.IOException(f'IO Error: Cannot open file "{tmp}": Read-only file system')

    def refuse_unlink(self: Path, missing_ok: bool = False) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(convert, "_write", refuse_write)
    monkeypatch.setattr(Path, "unlink", refuse_unlink)
    with pytest.raises(ConfigError, match="cannot write the converted file in"):
        store.ingest_file(DATA / "focus_1_0.csv")
