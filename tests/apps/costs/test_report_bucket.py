"""OCI cost reports read from the tenancy's report bucket through the ``objects`` backend (OCI
Object Storage on the emulator), as `skybridge costs ingest --bucket` and the ingest job do."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skybridge.cli import app
from skybridge.testing.oci import OciEmulator

from .conftest import DATA

pytestmark = pytest.mark.oci


def test_gzipped_cost_reports_in_the_bucket_are_ingested_once(
    workdir: Path, oci_emulator: OciEmulator
) -> None:
    bucket = oci_emulator.tenancy_id.replace(".", "-")[-40:]  # OCI names it after the tenancy
    oci_emulator.create_bucket(bucket)
    config = oci_emulator.write_config(workdir / "oci")
    url = f"oci://{bucket}@{oci_emulator.namespace}?config_file={config}&endpoint={oci_emulator.endpoint}"
    (workdir / "skybridge.toml").write_text(
        f'[backends]\nobjects = "{url}"\n\n[costs]\nreport_prefix = "reports/cost-csv/"\n'
    )
    from skybridge.backends import objects

    with objects.connect(url) as store:
        store.put(
            "reports/cost-csv/0001.csv.gz",
            gzip.compress((DATA / "oci_cost_report.csv").read_bytes()),
        )
        store.put(
            "reports/cost-csv/0002.csv.gz",
            gzip.compress((DATA / "oci_cost_report_corrections.csv").read_bytes()),
        )
        store.put("reports/usage-csv/0001.csv.gz", b"not a cost report")  # another prefix: ignored
    runner = CliRunner()
    first = runner.invoke(app, ["costs", "ingest", "--bucket", "--json"])
    assert first.exit_code == 0, first.output
    assert [(f["source"], f["status"], f["rows"]) for f in json.loads(first.stdout)] == [
        ("objects:reports/cost-csv/0001.csv.gz", "ingested", 4),
        ("objects:reports/cost-csv/0002.csv.gz", "ingested", 1),
    ]
    again = runner.invoke(app, ["costs", "ingest", "--bucket", "--json"])
    assert {f["status"] for f in json.loads(again.stdout)} == {"unchanged"}
    report = json.loads(
        runner.invoke(
            app, ["costs", "report", "--from", "2023-11-13", "--to", "2023-11-14", "--json"]
        ).stdout
    )
    assert report["total"]["billed_cost"] == pytest.approx(
        0.012264277 + 1.2 + 0.73 + 0.25, abs=1e-6
    )
