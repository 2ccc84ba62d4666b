"""``skybridge costs ...`` through Typer's CliRunner, in a fresh directory on embedded backends."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skybridge.cli import app

from .conftest import DATA

runner = CliRunner()


@pytest.fixture
def exports(workdir: Path) -> Path:
    folder = workdir / "exports"
    folder.mkdir()
    for name in ("focus_1_0.csv", "focus_oci_1_2.csv", "aws_cur2.csv"):
        shutil.copy(DATA / name, folder / name)
    return folder


def costs(*args: str) -> object:
    return runner.invoke(app, ["costs", *args])


def test_ingest_then_report_json_carries_totals_overall_and_per_provider(exports: Path) -> None:
    result = costs("ingest", str(exports), "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    files = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert [f["status"] for f in files] == ["ingested"] * 3
    again = costs("ingest", str(exports), "--json")
    assert [f["status"] for f in json.loads(again.stdout)] == ["unchanged"] * 3  # type: ignore[attr-defined]

    report = costs("report", "--from", "2024-09-01", "--to", "2024-09-30", "--json")
    assert report.exit_code == 0, report.output  # type: ignore[attr-defined]
    body = json.loads(report.stdout)  # type: ignore[attr-defined]
    providers = {p["provider"]: p for p in body["providers"]}
    assert set(providers) == {"AWS", "Microsoft", "Oracle"}
    assert providers["Oracle"]["billed_cost"] == pytest.approx(0.53707392 + 5.5 + 1.25 + 2.75)
    assert body["total"]["billed_cost"] == pytest.approx(
        sum(p["billed_cost"] for p in body["providers"])
    )
    assert body["total"]["effective_cost"] == pytest.approx(
        sum(p["effective_cost"] for p in body["providers"])
    )
    assert body["period"] == {"start": "2024-09-01", "end": "2024-09-30", "days": 30}


def test_the_default_report_is_the_last_30_days_with_data(exports: Path) -> None:
    costs("ingest", str(exports))
    body = json.loads(costs("report", "--json").stdout)  # type: ignore[attr-defined]
    assert body["period"] == {"start": "2024-08-13", "end": "2024-09-11", "days": 30}
    table = costs("report")
    assert "total" in table.output
    assert "Oracle" in table.output


def test_report_writes_csv_and_charts(exports: Path, workdir: Path) -> None:
    costs("ingest", str(exports))
    result = costs(
        "report",
        "--csv",
        str(workdir / "summary.csv"),
        "--charts",
        str(workdir / "charts"),
        "--format",
        "png",
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    rows = list(csv.reader((workdir / "summary.csv").read_text().splitlines()))
    assert rows[0] == ["section", "name", "billed_cost", "effective_cost", "rows"]
    assert {r[1] for r in rows if r[0] == "provider"} == {"AWS", "Microsoft", "Oracle"}
    for stem in ("trend", "top-services", "untagged-share"):
        assert (workdir / "charts" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = costs("report", "--charts", str(workdir / "svg"), "--format", "svg")
    assert svg.exit_code == 0
    assert b"<svg" in (workdir / "svg" / "trend.svg").read_bytes()


def test_rejected_rows_exit_1_and_name_file_and_line(workdir: Path) -> None:
    shutil.copy(DATA / "malformed_focus.csv", workdir / "bad.csv")
    result = costs("ingest", str(workdir / "bad.csv"))
    assert result.exit_code == 1
    assert "bad.csv:3: BilledCost: cannot read two dollars" in result.output  # type: ignore[attr-defined]


def test_one_bad_file_among_several_stops_the_ingest_before_any_naming_it(workdir: Path) -> None:
    shutil.copy(DATA / "focus_1_0.csv", workdir / "good.csv")
    (workdir / "series.csv").write_text("timestamp,value\n2024-01-01,1\n")
    (workdir / "empty").mkdir()
    for args, said in [
        (["good.csv", "series.csv"], "series.csv: the file is not a FOCUS export"),
        (["good.csv", "empty"], "empty holds no cost export"),
        (["good.csv", "missing.csv"], "missing.csv does not exist"),
    ]:
        result = costs("ingest", *args)
        assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
        assert said in " ".join(result.stderr.split())  # type: ignore[attr-defined]
    listed = costs("list", "--json")
    assert json.loads(listed.stdout) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest"], "nothing to ingest"),
        (["report", "--from", "30/09/2024"], "is not a date"),
        (["report", "--from", "2024-09-30", "--to", "2024-09-01"], "before it starts"),
        (["report", "--format", "gif", "--charts", "x"], "use png or svg"),
        (["anomalies", "--dimension", "colour"], "unknown dimension"),
        (["forecast", "--dimension", "service"], "both a dimension and a value"),
        (
            ["ingest", "--api", "aws", "--from", "2024-09-30", "--to", "2024-09-01"],
            "the period ends (2024-09-01) before it starts (2024-09-30)",
        ),
        (
            ["ingest", "--api", "nowhere", "--from", "2024-09-01", "--to", "2024-09-02"],
            "no cost API source",
        ),
    ],
)
def test_bad_input_exits_2_saying_what_to_fix(workdir: Path, args: list[str], message: str) -> None:
    result = costs(*args)
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert message in result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_a_url_for_the_local_data_folder_is_refused_naming_the_setting(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__COSTS__DATA", "s3://bucket/costs?secret_access_key=hush")
    result = costs("list")
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    said = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert "costs.data" in said
    assert (
        "data is a local folder (the Parquet files and their SQLite ledger), not a s3:// URL"
        in said
    )
    assert "hush" not in said
    assert not (workdir / "s3:").exists()


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_line_too_long_for_the_reader_refuses_the_file_instead_of_losing_the_row(
    workdir: Path, suffix: str
) -> None:
    # DuckDB's reader dropped a line longer than its buffer (32 MB) without a reject entry.
    text = (
        "BilledCost,EffectiveCost,ChargePeriodStart,ProviderName\n1,1,2024-09-01,AWS\n"
        f"2,2,2024-09-02,AWS {'x' * (17 << 20)}\n4,4,2024-09-03,AWS\n"
    ).encode()
    path = workdir / f"long{suffix}"
    path.write_bytes(gzip.compress(text, compresslevel=1) if suffix.endswith(".gz") else text)
    result = costs("ingest", str(path))
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    said = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert f"long{suffix}: line 3 is over 16 MB long" in said
    assert json.loads(costs("list", "--json").stdout) == []  # type: ignore[attr-defined]


def test_a_line_over_the_readers_row_limit_is_a_rejected_row(workdir: Path) -> None:
    path = workdir / "wide.csv"
    path.write_text(
        "BilledCost,EffectiveCost,ChargePeriodStart,ProviderName\n1,1,2024-09-01,AWS\n"
        f"2,2,2024-09-02,AWS {'x' * (3 << 20)}\n4,4,2024-09-03,AWS\n"
    )
    result = costs("ingest", str(path), "--json")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    (done,) = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert (done["rows"], done["rejected"]) == (2, 1)
    assert done["rejects"][0]["line"] == 3


def test_a_file_that_is_no_export_exits_2_and_writes_nothing(workdir: Path) -> None:
    (workdir / "notes.csv").write_text("a,b\n1,2\n")
    result = costs("ingest", str(workdir / "notes.csv"))
    assert result.exit_code == 2
    assert json.loads(costs("list", "--json").stdout) == []  # type: ignore[attr-defined]


def test_tags_budgets_forecast_and_anomalies_report_json(exports: Path, workdir: Path) -> None:
    costs("ingest", str(exports))
    (workdir / "skybridge.toml").write_text(
        '[[costs.budgets]]\nname = "cc-101"\ndimension = "tag:cost_center"\n'
        'value = "CC-101"\namount = 10\n'
    )
    tags = json.loads(costs("tags", "--from", "2024-09-01", "--to", "2024-09-30", "--json").stdout)  # type: ignore[attr-defined]
    assert tags["untagged_cost"] > 0
    assert tags["invalid_cost"] > 0
    budgets = json.loads(costs("budgets", "--as-of", "2024-09-10", "--json").stdout)  # type: ignore[attr-defined]
    assert budgets["budgets"][0]["actual"] == pytest.approx(9.5 + 5.5)  # CC-101 on AWS and OCI
    assert budgets["alerts_sent"] == []
    forecast = json.loads(costs("forecast", "--as-of", "2024-09-10", "--json").stdout)  # type: ignore[attr-defined]
    assert forecast["month"] == "2024-09"
    assert forecast["run_rate_month_end"] is not None
    assert json.loads(costs("anomalies", "--json").stdout) == []  # type: ignore[attr-defined]


def test_budgets_alert_sends_once(exports: Path, workdir: Path) -> None:
    costs("ingest", str(exports))
    (workdir / "skybridge.toml").write_text('[[costs.budgets]]\nname = "all"\namount = 5\n')
    first = json.loads(costs("budgets", "--as-of", "2024-09-10", "--alert", "--json").stdout)  # type: ignore[attr-defined]
    second = json.loads(costs("budgets", "--as-of", "2024-09-10", "--alert", "--json").stdout)  # type: ignore[attr-defined]
    assert [a["incident"] for a in first["alerts_sent"]] == [
        "budget:all:2024-09:actual:0.8",
        "budget:all:2024-09:actual:1",
        "budget:all:2024-09:forecast:1",
    ]
    assert second["alerts_sent"] == []


def test_remediate_is_a_dry_run_until_approved(workdir: Path) -> None:
    from skybridge.backends import compute

    fleet = compute.connect(f"embedded://{workdir}/.skybridge/compute")
    dev = fleet.launch(
        "dev-box", "t3.large", {"environment": "dev", "cost_center": "CC-101"}, utilisation=50.0
    )
    (workdir / "skybridge.toml").write_text(
        '[costs.remediation]\npolicies = ["tag-noncompliant", "idle"]\n'
    )
    fleet.launch("untagged", "t3.large", {"environment": "prod"}, utilisation=50.0)
    dry = json.loads(costs("remediate", "--json").stdout)  # type: ignore[attr-defined]
    assert dry["dry_run"] is True
    assert [(o["name"], o["action"], o["outcome"]) for o in dry["outcomes"]] == [
        ("untagged", "tag", "dry-run")
    ]
    assert "cost_alerted" not in {k for i in fleet.instances() for k in i.tags}
    applied = costs("remediate", "--approve", "--json")
    assert applied.exit_code == 0, applied.output  # type: ignore[attr-defined]
    assert [o["outcome"] for o in json.loads(applied.stdout)["outcomes"]] == ["done"]  # type: ignore[attr-defined]
    audit = json.loads(costs("audit", "--json").stdout)  # type: ignore[attr-defined]
    assert [(r["action"], r["outcome"]) for r in audit] == [("tag", "done")]
    assert fleet.get(dev.id).tags == {"environment": "dev", "cost_center": "CC-101"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--from", "0001-01-01", "--to", "2024-01-01"], "outside"),
        (["report", "--from", "2001-01-01", "--to", "2024-01-01"], "at most 1830"),
        (["forecast", "--as-of", "9999-12-31"], "as of 9999-12-31: give a day from"),
    ],
)
def test_periods_out_of_reach_are_refused(workdir: Path, args: list[str], message: str) -> None:
    result = costs(*args)
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert message in result.output  # type: ignore[attr-defined]


def test_ctrl_c_says_the_command_was_interrupted_and_exits_130(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skybridge.apps.costs import ingest

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest.CostStore, "ingest_file", interrupted)
    shutil.copy(DATA / "focus_1_0.csv", workdir / "f.csv")
    result = costs("ingest", str(workdir / "f.csv"))
    assert result.exit_code == 130, result.output  # type: ignore[attr-defined]
    assert "interrupted (Ctrl-C) before the command finished" in result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_a_link_to_nowhere_among_the_exports_stops_the_ingest_naming_it(workdir: Path) -> None:
    folder = workdir / "exports"
    folder.mkdir()
    shutil.copy(DATA / "focus_1_0.csv", folder / "good.csv")
    (folder / "gone.csv").symlink_to(workdir / "deleted.csv")
    result = costs("ingest", str(folder))
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert "gone.csv is a link that leads nowhere" in " ".join(result.output.split())  # type: ignore[attr-defined]
    assert json.loads(costs("list", "--json").stdout) == []  # type: ignore[attr-defined]
