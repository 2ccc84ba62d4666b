"""OCI cost reports read from the tenancy's report bucket through the ``objects`` backend (OCI
Object Storage on the emulator), as `skybridge costs ingest --bucket` and the ingest job do; an
object that cannot be ingested is rejected by key and never keeps the others, or the cost API
pulls of the job, from running."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skybridge.apps.costs.api import Costs
from skybridge.apps.costs.jobs import ingest_job
from skybridge.backends import objects
from skybridge.cli import app
from skybridge.core.errors import TransientError
from skybridge.runtime.scheduler import JobRun
from skybridge.testing.oci import OciEmulator, UsageItem

from .conftest import DATA, costs_context
from .test_bucket_objects import USAGE_REPORT

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


def report_bucket(workdir: Path, emu: OciEmulator, settings: str = "") -> str:
    """A fresh bucket on the emulator as ``backends.objects``, with ``settings`` after it."""
    bucket = f"reports-{uuid.uuid4().hex[:12]}"
    emu.create_bucket(bucket)
    config = emu.write_config(workdir / "oci")
    url = f"oci://{bucket}@{emu.namespace}?config_file={config}&endpoint={emu.endpoint}"
    (workdir / "skybridge.toml").write_text(f'[backends]\nobjects = "{url}"\n{settings}')
    return url


POISON = "reports/cost-csv/0000-half.csv.gz"  # sorts before the good report


def test_a_poison_object_is_rejected_by_key_on_every_run_and_the_rest_ingested(
    workdir: Path, oci_emulator: OciEmulator
) -> None:
    url = report_bucket(workdir, oci_emulator)  # report_prefix left at its default
    whole = gzip.compress((DATA / "oci_cost_report.csv").read_bytes())
    with objects.connect(url) as store:
        store.put(POISON, whole[: len(whole) // 2])
        store.put("reports/cost-csv/0001.csv.gz", whole)
        store.put("reports/usage-csv/0001.csv.gz", gzip.compress(USAGE_REPORT.encode()))
    runner = CliRunner()
    for attempt, good in ((1, "ingested"), (2, "unchanged")):
        run = runner.invoke(app, ["costs", "ingest", "--bucket", "--json"])
        assert run.exit_code == 1, run.output  # not fully successful
        files = json.loads(run.stdout)
        assert [(f["source"], f["status"]) for f in files] == [
            (f"objects:{POISON}", "rejected"),
            ("objects:reports/cost-csv/0001.csv.gz", good),
        ], attempt
        assert POISON in files[0]["reason"]
    wide = runner.invoke(app, ["costs", "ingest", "--bucket", "--prefix", "reports/"])
    assert wide.exit_code == 1
    text = " ".join(wide.output.split())
    assert f"rejected {POISON} is not a complete gzip file" in text
    assert "skipped reports/usage-csv/0001.csv.gz is an OCI usage report" in text


def test_the_ingest_job_pulls_the_cost_apis_whatever_became_of_the_bucket(
    workdir: Path, oci_emulator: OciEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    oci_emulator.reset()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    oci_emulator.add_usage(UsageItem(yesterday, "Compute", Decimal("2.50")))
    config = oci_emulator.write_config(workdir / "oci-usage")
    usage = f"oci-usage://{oci_emulator.tenancy_id}?endpoint={oci_emulator.endpoint}&config_file={config}"
    url = report_bucket(workdir, oci_emulator, f'\n[costs.sources]\noci = "{usage}"\n')
    with objects.connect(url) as store:
        store.put(POISON, b"not gzip at all")
        store.put(
            "reports/cost-csv/0001.csv.gz",
            gzip.compress((DATA / "oci_cost_report.csv").read_bytes()),
        )
    job = ingest_job(costs_context())  # type: ignore[arg-type]
    tick = JobRun("costs.ingest", 0.0, "test", 1)
    result = job.run(tick)
    assert result["ingested"] == 2  # the good report and yesterday's pull
    assert [r["source"] for r in result["rejected"]] == [f"objects:{POISON}"]
    assert POISON in result["rejected"][0]["reason"]

    def unreachable(self: Costs, prefix: str | None = None) -> None:
        raise TransientError("OCI Object Storage unreachable")

    monkeypatch.setattr(Costs, "ingest_bucket", unreachable)
    oci_emulator.add_usage(UsageItem(yesterday, "Compute", Decimal("1.25")))  # late cost
    with pytest.raises(TransientError) as failed:
        job.run(tick)
    assert "the report bucket failed: OCI Object Storage unreachable" in str(failed.value)
    assert "the other steps ran: 1 of " in str(failed.value)  # yesterday pulled again
