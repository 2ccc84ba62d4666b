"""``skybridge anomaly eval --nab DIR`` on a small NAB-layout folder built from the shared data."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from skybridge.cli import build_cli

SERIES = (
    "artificialNoAnomaly/art_daily_no_noise.csv",
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "realAdExchange/exchange-2_cpc_results.csv",
)


def _small_nab(nab: Path, root: Path) -> Path:
    windows = json.loads((nab / "labels" / "combined_windows.json").read_text())
    for path in SERIES:
        target = root / "data" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(nab / "data" / path)
    (root / "labels").mkdir()
    labels = {path: windows[path] for path in SERIES}
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    return root


def test_eval_reports_profiles_and_categories(nab_dir: Path, skybridge_workdir: Path) -> None:
    root = _small_nab(nab_dir, skybridge_workdir / "nab")
    result = CliRunner().invoke(
        build_cli(), ["anomaly", "eval", "--nab", str(root), "--detector", "global-z", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["series"] == 3
    assert report["windows"] == 2
    for profile in ("standard", "reward_low_fp", "reward_low_fn"):
        assert -100.0 <= report[profile] <= 100.0
    assert report["categories"]["artificialNoAnomaly"]["standard"] is None
    assert set(report["categories"]) == {p.split("/")[0] for p in SERIES}


def test_eval_refuses_a_series_without_labels(nab_dir: Path, skybridge_workdir: Path) -> None:
    root = _small_nab(nab_dir, skybridge_workdir / "nab")
    labels = root / "labels" / "combined_windows.json"
    kept = json.loads(labels.read_text())
    del kept[SERIES[0]]
    labels.write_text(json.dumps(kept))
    result = CliRunner().invoke(build_cli(), ["anomaly", "eval", "--nab", str(root)])
    assert result.exit_code == 2
    assert "has no entry" in result.stderr
