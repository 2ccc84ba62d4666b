"""``skybridge up --demo`` keeps a mapping table someone added to; it rewrites only its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.secretsync.demo import seed_demo
from skybridge.apps.secretsync.manifest import APP
from skybridge.apps.secretsync.service import TABLE_FILE
from skybridge.testing.service import fresh_workdir

USERS_MAPPING = """
[[mappings]]
name = "users-own"
source = { backend = "demo-source", secret = "demo/api-key" }
target = { backend = "demo-target", secret = "users-own" }
"""


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppContext[object]:
    fresh_workdir(tmp_path, monkeypatch)
    settings = load_settings([APP], data_dir=tmp_path / "demo")
    return AppContext.create(APP, settings, demo=True)


def test_a_table_someone_added_to_is_kept(ctx: AppContext[object]) -> None:
    seed_demo(ctx)  # type: ignore[arg-type]
    table = ctx.data_dir / TABLE_FILE
    edited = table.read_text() + USERS_MAPPING
    table.write_text(edited)
    seed_demo(ctx)  # type: ignore[arg-type]
    assert table.read_text() == edited


def test_a_demo_table_of_another_folder_is_written_anew(ctx: AppContext[object]) -> None:
    seed_demo(ctx)  # type: ignore[arg-type]
    table = ctx.data_dir / TABLE_FILE
    fresh = table.read_text()
    table.write_text(fresh.replace(str(ctx.data_dir.resolve()), "/where/it/was/before"))
    seed_demo(ctx)  # type: ignore[arg-type]
    assert table.read_text() == fresh
