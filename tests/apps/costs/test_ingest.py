"""Ingest: every export kind lands in the canonical schema; totals per provider and service
reconcile with the raw files to the cent; re-ingest changes nothing; bad rows are reported with
file and line and kept out; OCI corrections supersede the lines they correct."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybridge.apps.costs.analytics import Period
from skybridge.apps.costs.api import Costs
from skybridge.apps.costs.convert import read_header
from skybridge.apps.costs.formats import detect
from skybridge.apps.costs.ingest import CostStore
from skybridge.core.errors import ValidationError

from .conftest import DATA, SHARED, cents, money, read_rows

Totals = dict[tuple[str, str], tuple[Decimal, Decimal]]


def raw_totals(
    path: Path, provider: str | None, billed: str, effective: str, service: str
) -> Totals:
    """(provider, service) -> (billed, effective) straight from the raw file, to the cent."""
    sums: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in read_rows(path):
        key = (provider or row["ProviderName"], row[service])
        sums[key][0] += money(row[billed])
        sums[key][1] += money(row[effective])
    return {k: (cents(b), cents(e)) for k, (b, e) in sums.items()}


def ingested_totals(store: CostStore, source: str | None = None) -> Totals:
    with store.data() as data:
        where = "WHERE x_SourceFile = ?" if source else ""
        rows = data.rows(
            "SELECT ProviderName, ServiceName, sum(BilledCost), sum(EffectiveCost) "
            f"FROM costs {where} GROUP BY ALL",
            [source] if source else [],
        )
    return {(p, s): (cents(b), cents(e)) for p, s, b, e in rows}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("focus_1_0.csv", "focus"),
        ("focus_oci_1_2.csv", "focus"),
        ("focus_1_3.csv", "focus"),
        ("oci_cost_report.csv", "oci-cost"),
        ("aws_cur.csv", "aws-cur"),
        ("aws_cur2.csv", "aws-cur2"),
    ],
)
def test_each_export_kind_is_recognised(name: str, kind: str) -> None:
    assert detect(read_header(DATA / name)) == kind


def test_a_file_that_is_no_export_says_what_was_expected(store: CostStore, tmp_path: Path) -> None:
    other = tmp_path / "people.csv"
    other.write_text("name,age\nada,36\n")
    with pytest.raises(ValidationError, match="FOCUS"):
        store.ingest_file(other)
    assert store.ledger.files() == []
    assert list(store.parquet_dir.iterdir()) == []


def test_focus_1_0_totals_reconcile(store: CostStore) -> None:
    path = DATA / "focus_1_0.csv"
    store.ingest_file(path)
    assert ingested_totals(store) == raw_totals(
        path, None, "BilledCost", "EffectiveCost", "ServiceName"
    )


def test_oci_focus_report_aliases_and_extras(store: CostStore) -> None:
    path = DATA / "focus_oci_1_2.csv"
    store.ingest_file(path)
    assert ingested_totals(store) == raw_totals(
        path, "Oracle", "BilledCost", "EffectiveCost", "ServiceName"
    )
    with store.data() as data:
        rows = data.rows(
            "SELECT DISTINCT RegionId, ConsumedUnit, x_CompartmentName FROM costs ORDER BY 3"
        )
    assert rows == [("us-ashburn-1", "Hours", "apps"), ("us-ashburn-1", "Hours", "data")]


def test_focus_1_3_provider_names(store: CostStore) -> None:
    store.ingest_file(DATA / "focus_1_3.csv")
    assert set(ingested_totals(store)) == {
        ("Google Cloud", "Compute Engine"),
        ("Google Cloud", "Cloud Storage"),
    }


def test_legacy_cur_billed_is_unblended_and_effective_is_amortised(store: CostStore) -> None:
    path = DATA / "aws_cur.csv"
    store.ingest_file(path)
    totals = ingested_totals(store)
    raw = raw_totals(
        path, "AWS", "lineItem/UnblendedCost", "lineItem/UnblendedCost", "product/ProductName"
    )
    assert {k: v[0] for k, v in totals.items()} == {k: v[0] for k, v in raw.items()}
    # EC2: 0.0416 on demand + 0.0500 Savings Plan effective; the negation counts 0; tax 0.01
    assert totals["AWS", "Amazon Elastic Compute Cloud"][1] == Decimal("0.10")
    with store.data() as data:
        categories = dict(data.rows("SELECT ChargeCategory, count(*) FROM costs GROUP BY ALL"))
    assert categories == {"Usage": 4, "Tax": 1}


def test_cur2_tags_from_the_resource_tags_map(store: CostStore) -> None:
    store.ingest_file(DATA / "aws_cur2.csv")
    with store.data() as data:
        rows = data.rows(
            "SELECT ResourceId, tag_value(x_TagKeys, x_TagValues, 'cost_center'), EffectiveCost "
            "FROM costs ORDER BY 1"
        )
    assert [(r, t) for r, t, _ in rows] == [("db-1", None), ("i-ccc", "CC-303"), ("i-ddd", None)]
    assert rows[0][2] == Decimal("1.4")  # DiscountedUsage: the reservation's effective cost


def test_oci_cost_report_totals_tags_and_timestamps(store: CostStore, tmp_path: Path) -> None:
    gz = tmp_path / "reports_cost-csv_0001.csv.gz"
    gz.write_bytes(gzip.compress((DATA / "oci_cost_report.csv").read_bytes()))
    result = store.ingest_file(gz)
    assert (result.kind, result.rows, result.rejected) == ("oci-cost", 4, 0)
    raw = raw_totals(
        DATA / "oci_cost_report.csv", "Oracle", "cost/myCost", "cost/myCost", "product/service"
    )
    assert ingested_totals(store) == raw
    with store.data() as data:
        tags = data.rows("SELECT Tags FROM costs WHERE ServiceName = 'DATABASE'")[0][0]
        starts = data.rows("SELECT min(ChargePeriodStart), max(ChargePeriodStart) FROM costs")[0]
    assert '"DevRel\\\\redbull-analytics.release":"v2"' in tags  # the backslash survives
    assert [s.isoformat() for s in starts] == ["2023-11-13T10:00:00", "2023-11-14T00:00:00"]


def test_an_oci_correction_supersedes_the_line_it_corrects_whenever_it_arrives(
    store: CostStore,
) -> None:
    store.ingest_file(DATA / "oci_cost_report.csv")
    store.ingest_file(DATA / "oci_cost_report_corrections.csv")
    with store.data() as data:
        compute = data.rows("SELECT sum(BilledCost) FROM costs WHERE ServiceName = 'COMPUTE'")[0][0]
        references = {r for (r,) in data.rows("SELECT x_ReferenceNumber FROM costs")}
    assert cents(compute) == Decimal("1.21")  # 0.0123 + 1.20 (the correction), not + 1.50
    assert "ref-0002" not in references


def test_reingesting_changes_nothing(store: CostStore, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    shutil.copytree(DATA, folder)
    first = list(store.ingest_paths([folder]))
    before = ingested_totals(store)
    parquet = sorted(p.name for p in store.parquet_dir.iterdir())
    again = list(store.ingest_paths([folder]))
    assert {r.status for r in again} == {"unchanged"}
    assert [r.hash for r in again] == [r.hash for r in first]
    # the rows a file had rejected are named again, as the exit code still counts them
    assert [(r.rejected, r.rejects) for r in again] == [(r.rejected, r.rejects) for r in first]
    assert any(r.rejects for r in again)
    assert ingested_totals(store) == before
    assert sorted(p.name for p in store.parquet_dir.iterdir()) == parquet
    renamed = tmp_path / "copy-of-focus.csv"
    shutil.copy(DATA / "focus_1_0.csv", renamed)
    assert store.ingest_file(renamed).status == "unchanged"  # same bytes, another name


def test_malformed_rows_are_reported_with_file_and_line_and_kept_out(store: CostStore) -> None:
    path = DATA / "malformed_focus.csv"
    result = store.ingest_file(path, "malformed_focus.csv")
    assert (result.rows, result.rejected) == (2, 4)
    found = {(r.file, r.line): r.reason for r in result.rejects}
    assert set(found) == {("malformed_focus.csv", n) for n in (3, 4, 5, 6)}
    assert found["malformed_focus.csv", 3] == "BilledCost: cannot read two dollars"
    assert found["malformed_focus.csv", 4] == "ChargePeriodStart: missing"
    assert "TOO MANY COLUMNS" in found["malformed_focus.csv", 5]
    assert found["malformed_focus.csv", 6].startswith("ChargePeriodStart: cannot read not a time")
    assert ingested_totals(store) == {
        ("AWS", "Amazon EC2"): (Decimal("1.50"), Decimal("1.50")),
        ("AWS", "AWS Lambda"): (Decimal("6.25"), Decimal("6.25")),
    }
    assert store.ledger.rejects() == result.rejects


def test_an_unterminated_quote_or_a_byte_that_is_no_utf8_rejects_its_line_only(
    store: CostStore, tmp_path: Path
) -> None:
    lines = (DATA / "malformed_focus.csv").read_bytes().splitlines(keepends=True)[:2]  # + 1 good
    path = tmp_path / "broken.csv"
    path.write_bytes(b"".join(lines) + b"x\xff\xfe,1\n" + b'"unterminated,1,2\n')
    result = store.ingest_file(path, "broken.csv")
    assert (result.rows, result.rejected) == (1, 2)
    found = {r.line: r.reason for r in result.rejects}
    assert set(found) == {3, 4}
    assert "unterminated quote" in found[4]


def test_a_file_that_is_no_utf8_text_is_refused_by_name(store: CostStore, tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\n")
    with pytest.raises(ValidationError, match=r"photo.csv is not UTF-8 text"):
        store.ingest_file(path)
    assert store.ledger.files() == []  # nothing recorded, nothing half-written
    assert list(store.parquet_dir.iterdir()) == []


def _truncated_gzip(tmp_path: Path, keep: float) -> Path:
    """The FOCUS 1.0 test export tiled to ~500 rows and gzipped, cut to ``keep`` of its bytes."""
    lines = (DATA / "focus_1_0.csv").read_text().splitlines(keepends=True)
    whole = gzip.compress("".join(lines[:1] + lines[1:] * 80).encode(), mtime=0)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(whole[: max(20, int(len(whole) * keep))])
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: _truncated_gzip(tmp, 0.0), r"cut.csv.gz is not a complete gzip file"),
        (lambda tmp: _truncated_gzip(tmp, 0.6), r"cut.csv.gz cannot be read to its end"),
        (lambda tmp: _write(tmp / "junk.csv.gz", b"not gzip at all\n"), r"junk.csv.gz is not a"),
        (lambda tmp: _write(tmp / "junk.parquet", b"PAR1" + bytes(500)), r"not a readable Parquet"),
    ],
)
def test_a_damaged_file_is_refused_by_name_and_leaves_nothing(
    store: CostStore, tmp_path: Path, make: Any, message: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(ValidationError, match=message) as caught:
        store.ingest_file(path)
    assert "whole" in (caught.value.hint or "")
    assert store.ledger.files() == []  # nothing recorded, nothing half-written
    assert list(store.parquet_dir.iterdir()) == []


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(sorted(p.name for p in DATA.glob("*.csv"))), repeat=st.integers(1, 3))
def test_any_order_and_any_number_of_deliveries_give_the_same_totals(
    tmp_path_factory: pytest.TempPathFactory, order: list[str], repeat: int
) -> None:
    reference = CostStore(tmp_path_factory.mktemp("ref"))
    list(reference.ingest_paths(sorted(DATA.glob("*.csv"))))
    store = CostStore(tmp_path_factory.mktemp("shuffled"))
    for _ in range(repeat):
        for name in order:
            store.ingest_file(DATA / name)
    assert ingested_totals(store) == ingested_totals(reference)


# -- the shared samples (read where the benchmark data lives; never copied here) ------------
needs_samples = pytest.mark.xfail(
    not SHARED.exists(), reason=f"the shared FOCUS data is not at {SHARED}", strict=True
)


@needs_samples
def test_the_focus_1_0_sample_reconciles_per_provider_and_service(store: CostStore) -> None:
    path = SHARED / "focus-1.0" / "focus_sample.csv"
    result = store.ingest_file(path)
    assert (result.rows, result.rejected) == (1000, 0)
    assert ingested_totals(store) == raw_totals(
        path, None, "BilledCost", "EffectiveCost", "ServiceName"
    )


@needs_samples
def test_the_real_oci_cost_report_reconciles_per_service(store: CostStore) -> None:
    path = SHARED / "focus_converters" / "oci" / "reports_cost-csv_0000000030000269.csv"
    result = store.ingest_file(path)
    assert (result.rows, result.rejected) == (506, 0)
    assert ingested_totals(store) == raw_totals(
        path, "Oracle", "cost/myCost", "cost/myCost", "product/service"
    )
    with store.data() as data:
        value = data.rows(
            "SELECT DISTINCT tag_value(x_TagKeys, x_TagValues, 'CostCenter') AS v "
            "FROM costs WHERE v IS NOT NULL"
        )
    assert value == [("607825",)]  # OracleInternalReserved.CostCenter folds into CostCenter


@needs_samples
def test_the_aws_cur_sample_reconciles_per_service(store: CostStore) -> None:
    path = SHARED / "focus_converters" / "aws" / "sample-anonymous-aws-export-dataset.csv"
    result = store.ingest_file(path)
    assert (result.rows, result.rejected) == (1281, 0)
    raw = raw_totals(
        path, "AWS", "lineItem/UnblendedCost", "lineItem/UnblendedCost", "product/ProductName"
    )
    assert {k: v[0] for k, v in ingested_totals(store).items()} == {k: v[0] for k, v in raw.items()}


def test_the_period_view_counts_utc_days(store: CostStore) -> None:
    from datetime import date

    store.ingest_file(DATA / "focus_1_0.csv")
    with store.data() as data:
        totals = data.totals(Period(date(2024, 9, 2), date(2024, 9, 2)))
    assert [(t["provider"], cents(t["billed_cost"])) for t in totals] == [("AWS", Decimal("4.13"))]


def test_one_costs_sees_a_file_ingested_after_its_first_query(costs: Costs) -> None:
    """Its queries share one DuckDB connection, replaced when the ingested files change."""
    period = Period(date(2024, 1, 1), date(2025, 12, 31))
    assert costs.report(period)["total"]["rows"] == 0
    list(costs.ingest_paths([DATA / "focus_1_0.csv"]))
    first = costs.report(period)["total"]["rows"]
    assert first > 0
    with costs.data() as before:
        pass
    list(costs.ingest_paths([DATA / "focus_1_3.csv"]))
    with costs.data() as after:
        assert after is not before
    assert costs.report(period)["total"]["rows"] > first
    with costs.data() as again:
        assert again is after  # nothing ingested since: the same connection


def test_the_api_takes_paths_as_text_or_path_one_or_several(costs: Costs, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(DATA / "focus_1_0.csv", folder / "a.csv")
    (first,) = list(costs.ingest_paths([f"{folder}/"]))  # a folder named as text
    assert first.rows > 0
    shutil.copy(DATA / "focus_1_3.csv", folder / "b.csv")
    (second,) = list(costs.ingest_paths(str(folder / "b.csv")))  # one path alone, as text
    assert second.source.endswith("b.csv")
    assert second.status == "ingested"
    with pytest.raises(ValidationError, match="no-such-exports does not exist"):
        list(costs.ingest_paths(["no-such-exports/"]))


@pytest.mark.parametrize(
    ("paths", "said"),
    [
        (None, r"^paths must be a path or a list of paths \(str or Path\), got NoneType"),
        (b"exports/", r"^paths must be .* got bytes"),
        ({"exports/": 1}, r"^paths must be .* got dict"),
        ([DATA, 3], r"^paths\[1\] must be a path \(str or Path\), got int"),
    ],
)
def test_the_api_refuses_what_is_not_a_path_when_called(
    costs: Costs, paths: object, said: str
) -> None:
    with pytest.raises(ValidationError, match=said):
        costs.ingest_paths(paths)  # type: ignore[arg-type]


def test_the_store_is_its_owners_alone(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual default, which makes 0644 files in 0755 folders
    try:
        folder = tmp_path / "fresh" / "costs"
        CostStore(folder).ingest_file(DATA / "focus_1_0.csv")
    finally:
        os.umask(old)
    paths = [folder, *folder.rglob("*")]
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in paths} == {
        p.name: 0o700 if p.is_dir() else 0o600 for p in paths
    }


def test_temporary_files_are_each_processes_own_and_stale_ones_are_swept(tmp_path: Path) -> None:
    from skybridge.apps.costs.convert import temporary_for

    target = tmp_path / "abc.parquet"
    names = {temporary_for(target) for _ in range(50)}
    assert len(names) == 50
    assert all(n.parent == tmp_path and n.name.startswith("abc.") for n in names)
    assert all(n.suffix == ".tmp" for n in names)
    store = CostStore(tmp_path / "costs")
    stale, fresh = store.parquet_dir / "old.1-aa.tmp", store.parquet_dir / "new.2-bb.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (0, 0))
    CostStore(tmp_path / "costs")  # a killed conversion's leftovers go on the next open
    assert not stale.exists()
    assert fresh.exists()  # maybe another process's conversion under way


def test_the_long_line_check_reads_every_gzip_member_in_any_case(tmp_path: Path) -> None:
    import io

    from skybridge.apps.costs.ingest import _sha256

    head = gzip.compress(b"BilledCost,ProviderName\n1,AWS\n")
    long = gzip.compress(b"2," + b"x" * (17 << 20) + b"\n")
    for name in ("e.csv.gz", "E.CSV.GZ"):
        with pytest.raises(ValidationError, match="line 3 is over 16 MB long"):
            _sha256(io.BytesIO(head + long), name)  # DuckDB reads the second member too
    fine = head + gzip.compress(b"2,AWS\n")
    assert len(_sha256(io.BytesIO(fine), "e.csv.gz")) == 64
