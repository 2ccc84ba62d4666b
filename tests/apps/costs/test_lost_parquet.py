"""A costs Parquet file that goes missing or is damaged: reports say so, re-ingest repairs it."""

from __future__ import annotations

import os
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skybridge.apps.costs.analytics import Period
from skybridge.apps.costs.api import Costs
from skybridge.apps.costs.ingest import STALE_SECONDS, CostStore
from skybridge.backends.billing import CostLine
from skybridge.cli import app as cli
from skybridge.core.errors import DamagedState

from .conftest import DATA

EXPORT = DATA / "focus_1_0.csv"
PERIOD = Period(date(2020, 1, 1), date(2024, 12, 31))


def total(costs: Costs) -> float:
    return float(costs.report(PERIOD)["total"]["billed_cost"])


def only_parquet(costs: Costs) -> Path:
    (parquet,) = costs.store.parquet_dir.glob("*.parquet")
    return parquet


def test_a_lost_parquet_is_named_and_converted_again(costs: Costs) -> None:
    list(costs.ingest_paths(EXPORT))
    before = total(costs)
    assert before > 0
    only_parquet(costs).unlink()
    with pytest.raises(DamagedState, match=r"1 ingested file\(s\) lost their Parquet") as caught:
        costs.report(PERIOD)
    assert str(EXPORT) in caught.value.message
    (again,) = costs.ingest_paths(EXPORT)
    assert again.status == "ingested"  # not "unchanged": the ledger's file was gone
    assert total(costs) == before
    assert [r.status for r in costs.ingest_paths(EXPORT)] == ["unchanged"]


def test_a_damaged_parquet_is_named_and_converted_again(costs: Costs) -> None:
    list(costs.ingest_paths(EXPORT))
    before = total(costs)
    parquet = only_parquet(costs)
    parquet.write_bytes(parquet.read_bytes()[:100])  # truncated
    costs.close()  # a new process: nothing cached
    with pytest.raises(DamagedState, match="a costs Parquet file cannot be read") as caught:
        total(costs)
    assert parquet.name in caught.value.message
    assert [r.status for r in costs.ingest_paths(EXPORT)] == ["ingested"]
    assert total(costs) == before


def test_the_cli_names_the_damage(costs: Costs, workdir: Path) -> None:
    """(The route's 503: ``test_routes.test_a_lost_parquet_answers_503_naming_it``.)"""
    runner = CliRunner()
    assert runner.invoke(cli, ["costs", "ingest", str(EXPORT)]).exit_code == 0
    next((workdir / ".skybridge" / "costs" / "parquet").glob("*.parquet")).unlink()
    result = runner.invoke(cli, ["costs", "report"])
    assert result.exit_code == 1, result.output
    assert "lost their Parquet" in result.output
    assert "Traceback" not in result.output


def pull(amount: str) -> list[CostLine]:
    day = date(2024, 9, 1)
    return [CostLine(day, "aws", "Amazon EC2", Decimal(amount), Decimal(amount), "USD")]


def billed(store: CostStore) -> Decimal:
    with store.data() as data:
        (value,) = data.rows("SELECT coalesce(sum(BilledCost), 0) FROM costs")[0]
    return Decimal(str(value))


@pytest.mark.parametrize("killed", ["before the ledger", "before the old file went"])
def test_a_pull_killed_while_replacing_a_day_counts_it_once(
    store: CostStore, monkeypatch: pytest.MonkeyPatch, killed: str
) -> None:
    store.ingest_lines("ce", "aws", pull("100"))
    assert billed(store) == Decimal(100)

    class Killed(BaseException):
        pass

    def die(*_args: object, **_kw: object) -> None:
        raise Killed

    if killed == "before the ledger":
        monkeypatch.setattr(store.ledger, "record", die)
    else:
        monkeypatch.setattr(Path, "unlink", die)
    with pytest.raises(Killed):
        store.ingest_lines("ce", "aws", pull("120"))
    monkeypatch.undo()
    assert len(list(store.parquet_dir.glob("*.parquet"))) == 2  # one left behind
    assert billed(store) == Decimal(100 if killed == "before the ledger" else 120)
    store.ingest_lines("ce", "aws", pull("130"))
    assert billed(store) == Decimal(130)


def test_parquet_no_ledger_entry_names_is_swept_once_stale(store: CostStore) -> None:
    store.ingest_lines("ce", "aws", pull("100"))
    orphan = store.parquet_dir / "api-left-behind.parquet"
    orphan.write_bytes(b"PAR1")
    CostStore(store.folder)
    assert orphan.exists()  # it may be a run in progress
    old = time.time() - STALE_SECONDS - 60
    os.utime(orphan, (old, old))
    CostStore(store.folder)
    assert not orphan.exists()
    assert billed(store) == Decimal(100)


def test_a_pull_recorded_while_a_report_reads_is_not_taken_for_lost(store: CostStore) -> None:
    store.ingest_lines("ce", "aws", pull("100"))
    writer = CostStore(store.folder)  # another process
    files = store.ledger.files
    pulled: list[bool] = []

    def ledger_read_while_a_day_is_pulled_again() -> list[Any]:
        found = files()
        if not pulled:  # after this read, the other process replaces the day's file
            pulled.append(True)
            writer.ingest_lines("ce", "aws", pull("120"))
        return found

    store.ledger.files = ledger_read_while_a_day_is_pulled_again  # type: ignore[method-assign]
    assert billed(store) == Decimal(120)
