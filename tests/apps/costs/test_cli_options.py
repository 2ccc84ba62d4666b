"""``skybridge costs ingest | report``: an option the command would ignore, or an output path it
cannot write, is refused (exit 2) before anything is ingested or written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from skybridge.cli import app

from .conftest import DATA

runner = CliRunner()


def costs(*args: str) -> Result:
    return runner.invoke(app, ["costs", *args], env={"COLUMNS": "200"})


def said(result: Result) -> str:
    """The output on one line, however the console wrapped it."""
    return " ".join(result.output.split())


def refused(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert message in said(result)
    assert "Traceback" not in result.output


@pytest.fixture
def export(workdir: Path) -> Path:
    shutil.copy(DATA / "focus_1_0.csv", workdir / "f.csv")
    return workdir / "f.csv"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2030-01-01", "--to", "2030-01-02"], "--from and --to apply only with --api"),
        (["--to", "2030-01-02"], "--to applies only with --api NAME"),
        (["--prefix", "reports/"], "--prefix applies only with --bucket"),
        (
            ["--api", "aws", "--from", "2024-09-01", "--to", "2024-09-02"],
            "--api cannot be combined with files or --bucket",
        ),
    ],
)
def test_an_ingest_option_its_source_would_ignore_is_refused_before_ingesting(
    export: Path, args: list[str], message: str
) -> None:
    refused(costs("ingest", str(export), *args), message)
    assert json.loads(costs("list", "--json").stdout) == []


def test_ingest_help_says_which_options_go_together(workdir: Path) -> None:
    text = said(costs("ingest", "--help"))
    assert "With --bucket: the object prefix" in text
    assert "With --api: first day" in text
    assert "With --api: last day" in text


def test_format_without_charts_is_refused(workdir: Path) -> None:
    refused(costs("report", "--format", "svg"), "--format applies only with --charts")


def test_report_checks_every_output_path_before_writing_any(export: Path, workdir: Path) -> None:
    assert costs("ingest", str(export)).exit_code == 0
    charts, summary = workdir / "charts", workdir / "summary.csv"
    (workdir / "a-file").write_text("")
    for args, message in [
        (["--csv", str(workdir / "missing" / "x.csv")], f"{workdir / 'missing'} does not exist"),
        (["--csv", str(workdir / "a-file" / "x.csv")], "a-file is not a folder"),
        (["--csv", str(workdir)], f"--csv {workdir} is a folder"),
    ]:
        refused(costs("report", "--charts", str(charts), *args), message)
        assert not charts.exists()
    for folder, message in [
        (workdir / "a-file", "a-file is a file, not a folder"),
        (workdir / "a-file" / "charts", "cannot be made: "),
    ]:
        refused(costs("report", "--charts", str(folder), "--csv", str(summary)), message)
        assert not summary.exists()


def test_a_folder_named_as_a_chart_stops_the_report_before_it_writes(
    export: Path, workdir: Path
) -> None:
    assert costs("ingest", str(export)).exit_code == 0
    charts, summary = workdir / "charts", workdir / "summary.csv"
    (charts / "trend.png").mkdir(parents=True)
    refused(
        costs("report", "--charts", str(charts), "--csv", str(summary)),
        f"{charts / 'trend.png'} is a folder",
    )
    assert [p.name for p in charts.iterdir()] == ["trend.png"]
    assert not summary.exists()
    assert costs("report", "--charts", str(workdir / "new" / "charts")).exit_code == 0
    assert len(list((workdir / "new" / "charts").glob("*.png"))) == 3
