"""Database passwords in the configured URLs never reach logs, errors, CLI or HTTP output."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.cli import build_cli
from skybridge.testing.canary import LogWatch
from skybridge.testing.service import service_harness


def test_an_unreachable_target_is_reported_without_its_password(
    skybridge_workdir: Path, log_canary: LogWatch
) -> None:
    password = log_canary.canaries[-1]
    settings = (
        "[datasync]\n"
        f'target = "postgresql://sync:{password}@127.0.0.1:1/prod?connect_timeout=2"\n'
        f'source = "postgresql://ro:{password}@127.0.0.1:1/app"\n'
        '[datasync.batches.nightly]\ntable = "orders"\nquery = "SELECT 1"\n'
    )
    (skybridge_workdir / "skybridge.toml").write_text(settings)
    shown: list[str] = []
    for args in (["status", "--json"], ["list", "--json"], ["create-tables"]):
        result = CliRunner().invoke(build_cli(), ["datasync", *args])
        shown.append(result.output)
    assert "127.0.0.1" in shown[0]  # the error names the server...
    spec = find_app(discover_apps(), "datasync")
    with service_harness([spec]) as service:
        for path in ("/api/datasync/status", "/api/datasync/tables"):
            shown.append(service.client.get(path, headers=service.auth).text)
        service.login()
        shown.append(service.client.get("/ui/datasync").text)
    log_canary.assert_no_leaks()
    assert [str(x) for x in log_canary.scan(shown, "output") if x.kind == "clear value"] == []
    assert json.loads(shown[1])["batches"][0]["source"].startswith("query on postgresql://ro:")
