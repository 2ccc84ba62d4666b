"""What ``make run`` does: ``skybridge up --demo`` in a fresh folder serves the service; in a
folder whose skybridge.toml points at other engines it sets them aside and says which."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.test_up_demo_backends import ELSEWHERE  # engines nothing listens on

from skybridge.testing.process import run_cli
from skybridge.testing.servers import free_port, wait_for_port


@pytest.fixture
def demo_config() -> str | None:
    """The skybridge.toml of the demo's folder (``None``: none, as ``make run`` in a fresh
    clone); a test parametrizes ``demo_config`` to give one."""
    return None


@pytest.fixture
def demo_service(tmp_path: Path, demo_config: str | None) -> Iterator[tuple[str, Path]]:
    if demo_config is not None:
        (tmp_path / "skybridge.toml").write_text(demo_config)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "skybridge.cli", "up", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, timeout=60, proc=proc)  # type: ignore[arg-type]
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("skybridge up did not stop on SIGTERM")
    # uvicorn shuts down cleanly, then re-raises the signal so the exit status tells it.
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "Demo token" in output
    assert "secretpw" not in output
    if demo_config is None:
        assert "sets aside" not in output
    else:  # said on stderr before seeding, and again in the start-up block
        notices = [line for line in output.splitlines() if "sets aside" in line]
        assert len(notices) == 2, output
        assert all("features.online" in n and "datasync.target" in n for n in notices)


@pytest.mark.parametrize("demo_config", [ELSEWHERE], ids=["engines-set-aside"])
def test_up_demo_serves_health_dashboard_and_guards_the_api(
    demo_service: tuple[str, Path],
) -> None:
    base, folder = demo_service
    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        home = client.get("/")
        assert home.status_code in (302, 303, 307)
        assert home.headers["location"].endswith("/login")
        assert "token" in client.get("/login").text.lower()
        assert client.get("/api/whoami").status_code == 401

        token = (folder / ".skybridge" / "demo-token").read_text().strip()
        assert (folder / ".skybridge" / "demo-token").stat().st_mode & 0o077 == 0
        whoami = client.get("/api/whoami", headers={"Authorization": f"Bearer {token}"})
        assert whoami.status_code == 200
        assert whoami.json()["name"] == "demo"
        backends = client.get("/api/backends", headers={"Authorization": f"Bearer {token}"})
        assert all(b["ok"] for b in backends.json()), backends.text
        # skybridge.toml's engines were set aside: only the demo's own backends are in use
        probed = {(b["setting"], b["scheme"]) for b in backends.json()}
        assert ("backends.kv", "sqlite") in probed
        assert not {"features.online", "datasync.target"} & {setting for setting, _ in probed}


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(folder, *args)


def test_the_plain_cli_in_the_demo_folder_acts_on_the_demo_data(
    demo_service: tuple[str, Path],
) -> None:
    base, folder = demo_service
    created = _cli(folder, "token", "create", "bob")
    assert created.returncode == 0, created.stderr
    token = next(w for w in created.stdout.split() if w.startswith("sbk_"))
    with httpx.Client(base_url=base, timeout=10) as client:
        whoami = client.get("/api/whoami", headers={"Authorization": f"Bearer {token}"})
        assert whoami.status_code == 200, whoami.text
        assert whoami.json()["name"] == "bob"
    listed = _cli(folder, "token", "list", "--json")
    assert {"demo", "bob"} <= {t["name"] for t in json.loads(listed.stdout)}
    status = _cli(folder, "secrets", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert {row["name"] for row in json.loads(status.stdout)} == {
        "orders-db",
        "payments-api-key",
        "webhook-token",
    }
    assertions = _cli(folder, "assert", "list", "--json")
    assert assertions.returncode == 0, assertions.stderr
    assert "ticket_requires_active_sla" in {a["name"] for a in json.loads(assertions.stdout)}
    # settings the demo adds when skybridge.toml declares none apply to the CLI here too
    budgets = _cli(folder, "costs", "budgets", "--json")
    assert budgets.returncode == 0, budgets.stderr
    assert {"all-clouds", "cc-101", "cc-202"} <= {
        b["name"] for b in json.loads(budgets.stdout)["budgets"]
    }
    declared = _cli(folder, "datasync", "list", "--json")
    assert declared.returncode == 0, declared.stderr
    assert [b["name"] for b in json.loads(declared.stdout)["batches"]] == ["orders-export"]
