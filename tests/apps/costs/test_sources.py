"""Cost API pulls through the app: the OCI Usage API (emulator) and Cost Explorer (moto) land in
the same canonical data, grouped by the allocation tag; pulling a day again replaces it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from skybridge.apps.costs.api import open_costs
from skybridge.core.errors import ValidationError
from skybridge.testing.contracts.billing import DATASET
from skybridge.testing.cost_explorer import cost_and_usage_pages, queue_cost_and_usage
from skybridge.testing.oci import OciEmulator, UsageItem
from skybridge.testing.servers import RunningServer

from .conftest import cents, costs_context


def write_config(workdir: Path, sources: dict[str, str]) -> None:
    lines = ["[costs.sources]"] + [f'{name} = "{url}"' for name, url in sources.items()]
    (workdir / "skybridge.toml").write_text("\n".join(lines) + "\n")


@pytest.mark.oci
def test_an_oci_usage_pull_is_stored_per_day_and_replaced_when_pulled_again(
    workdir: Path, oci_emulator: OciEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    oci_emulator.reset()
    for day, service, center, billed, _ in DATASET:
        oci_emulator.add_usage(
            UsageItem(day, service, billed, tags={"cost_center": center} if center else {})
        )
    config_dir = oci_emulator.write_config(workdir / "oci")
    url = f"oci-usage://{oci_emulator.tenancy_id}?endpoint={oci_emulator.endpoint}&config_file={config_dir}"
    write_config(workdir, {"oci": url})
    with open_costs(costs_context()) as costs:  # type: ignore[arg-type]
        results = costs.ingest_api("oci", date(2024, 9, 1), date(2024, 9, 4))
        assert [r.status for r in results] == ["ingested"] * 3
        report = costs.report(costs.period(date(2024, 9, 1), date(2024, 9, 3)))
        assert cents(Decimal(str(report["total"]["billed_cost"]))) == sum(r[3] for r in DATASET)
        assert {v["value"] for v in report["allocation"]["values"]} == {
            "CC-101",
            "CC-202",
            "CC-303",
            "(none)",
        }
        again = costs.ingest_api("oci", date(2024, 9, 1), date(2024, 9, 4))
        assert [r.status for r in again] == ["unchanged"] * 3
        oci_emulator.add_usage(
            UsageItem(date(2024, 9, 3), "Compute", Decimal("2.25"), tags={"cost_center": "CC-303"})
        )
        late = costs.ingest_api("oci", date(2024, 9, 1), date(2024, 9, 4))
        assert [r.status for r in late] == ["unchanged", "unchanged", "ingested"]
        report = costs.report(costs.period(date(2024, 9, 1), date(2024, 9, 3)))
    assert cents(Decimal(str(report["total"]["billed_cost"]))) == sum(
        r[3] for r in DATASET
    ) + Decimal("2.25")


@pytest.mark.moto
def test_a_cost_explorer_pull_lands_as_aws_spend(workdir: Path, moto_server: RunningServer) -> None:
    queue_cost_and_usage(moto_server.url, cost_and_usage_pages(DATASET, "cost_center"))
    write_config(workdir, {"aws": f"aws-ce://us-east-1?endpoint_url={moto_server.url}"})
    with open_costs(costs_context()) as costs:  # type: ignore[arg-type]
        costs.ingest_api("aws", date(2024, 9, 1), date(2024, 9, 4))
        report = costs.report(costs.period(date(2024, 9, 1), date(2024, 9, 3)))
    assert [p["provider"] for p in report["providers"]] == ["AWS"]
    assert cents(Decimal(str(report["total"]["effective_cost"]))) == sum(r[4] for r in DATASET)


def test_an_unknown_source_names_the_configured_ones(workdir: Path) -> None:
    write_config(workdir, {"aws": "aws-ce://us-east-1"})
    with open_costs(costs_context()) as costs, pytest.raises(ValidationError) as caught:  # type: ignore[arg-type]
        costs.ingest_api("gcp", date(2024, 9, 1), date(2024, 9, 2))
    assert "aws" in (caught.value.hint or "")


@pytest.mark.oci
def test_the_cli_pull_takes_an_inclusive_last_day(workdir: Path, oci_emulator: OciEmulator) -> None:
    import json

    from typer.testing import CliRunner

    from skybridge.cli import app

    oci_emulator.reset()
    for day, service, center, billed, _ in DATASET:
        oci_emulator.add_usage(
            UsageItem(day, service, billed, tags={"cost_center": center} if center else {})
        )
    config_dir = oci_emulator.write_config(workdir / "oci")
    url = f"oci-usage://{oci_emulator.tenancy_id}?endpoint={oci_emulator.endpoint}&config_file={config_dir}"
    write_config(workdir, {"oci": url})
    result = CliRunner().invoke(
        app,
        ["costs", "ingest", "--api", "oci", "--from", "2024-09-01", "--to", "2024-09-03", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert [f["source"].rsplit("@", 1)[1] for f in json.loads(result.stdout)] == [
        "2024-09-01",
        "2024-09-02",
        "2024-09-03",
    ]
