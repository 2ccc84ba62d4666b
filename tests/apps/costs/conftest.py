"""Fixtures of the costs tests: a fresh store, the fixture files, the app's context."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from skybridge.apps.costs.api import Costs, open_costs
from skybridge.apps.costs.ingest import CostStore
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.testing.service import fresh_workdir

DATA = Path(__file__).parent / "data"
#: The shared benchmark data beside the repository (also laid out so in CI).
SHARED = Path(__file__).parents[3].parent / "shared" / "data" / "focus"


@pytest.fixture
def store(tmp_path: Path) -> CostStore:
    return CostStore(tmp_path / "costs")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fresh_workdir(tmp_path, monkeypatch)


def costs_context(**settings: str) -> AppContext[object]:
    spec = find_app(discover_apps(), "costs")
    return AppContext.create(spec, load_settings([spec]))


@pytest.fixture
def costs(workdir: Path) -> Iterator[Costs]:
    with open_costs(costs_context()) as api:  # type: ignore[arg-type]
        yield api


def read_rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:  # type: ignore[operator]
        return list(csv.DictReader(handle))


def money(text: str | None) -> Decimal:
    """A raw file's amount as the ingest reads it: blank and NULL are nothing."""
    if text is None or text.strip() in {"", "NULL"}:
        return Decimal(0)
    return Decimal(text)


def cents(value: Decimal | float | None) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))
