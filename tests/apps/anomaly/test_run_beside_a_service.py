"""``anomaly run --file`` while another member of the pipeline's group holds its topic (a
running service): it says the points were published and who processes them, within bounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from skybridge.apps.anomaly.pipeline import build_pipeline
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.cli import build_cli
from skybridge.runtime import runner
from skybridge.testing.groups import member_holding

from .conftest import shifted_series, write_csv


def test_run_beside_a_service_publishes_and_says_who_processes(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "ASSIGNMENT_WAIT", 1.0)
    spec = find_app(discover_apps(), "anomaly")
    ctx = AppContext.create(spec, load_settings([spec]))
    pipeline = build_pipeline(ctx)  # creates the topic
    getattr(pipeline, "close")()  # noqa: B009
    csv = write_csv(skybridge_workdir / "cpu.csv", *shifted_series(count=50))
    with ctx.connect("streams") as streams:
        with member_holding(streams, pipeline.group_id, pipeline.topics):
            result = CliRunner().invoke(build_cli(), ["anomaly", "run", "--file", str(csv)])
        assert result.exit_code == 1, result.output
        assert "50 points were published" in result.output
        assert f"consumer group {pipeline.group_id!r}" in result.output
        assert "skybridge anomaly status" in result.output
        assert streams.total_lag(pipeline.group_id, ctx.config.topic) == 50  # left to the holder
    again = CliRunner().invoke(build_cli(), ["anomaly", "run", "--json"])
    assert again.exit_code == 0, again.output
    assert '"records": 50' in again.stdout
