"""The example app in examples/apps/hello joins skybridge through an entry point only.

Its distribution is "installed" by a ``*.dist-info`` folder on the path (no file of skybridge is
edited); it then appears in ``skybridge --help``, ``/api/hello``, ``/ui/hello``,
``skybridge worker``, ``skybridge up --demo``, and passes the app contract suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from skybridge.apps.kit.manifest import discover_apps, forget_apps
from skybridge.testing.contracts.apps import AppContract
from skybridge.testing.plugins import fake_distribution
from skybridge.testing.process import run_cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "apps" / "hello"
ENTRY_POINTS = {"skybridge.apps": {"hello": "skybridge_hello.manifest:APP"}}


@pytest.fixture
def hello_site(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The example app installed for this process and its children: the PYTHONPATH to use."""
    site = fake_distribution(tmp_path_factory.mktemp("site"), "skybridge-hello", ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(site))
    forget_apps()
    yield os.pathsep.join([str(site), str(EXAMPLE)])
    forget_apps()
    for name in [m for m in sys.modules if m.startswith("skybridge_hello")]:
        del sys.modules[name]


class TestHelloContract(AppContract):
    app_name = "hello"

    @pytest.fixture(autouse=True)
    def _installed(self, hello_site: str) -> None:
        assert "hello" in {app.name for app in discover_apps()}


def _env(pythonpath: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    env["PYTHONPATH"] = pythonpath
    return env


def _cli(folder: Path, pythonpath: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(folder, *args, env={"PYTHONPATH": pythonpath})


def test_the_app_joins_the_cli_and_the_worker(hello_site: str, tmp_path: Path) -> None:
    helped = _cli(tmp_path, hello_site, "--help")
    assert "hello" in helped.stdout
    assert "Count greetings" in helped.stdout
    parts = json.loads(_cli(tmp_path, hello_site, "worker", "list", "--json").stdout)
    assert {"hello.counter", "hello.jobs"} <= {p["target"] for p in parts}
    greeted = _cli(tmp_path, hello_site, "hello", "greet", "linus")
    assert greeted.returncode == 0, greeted.stderr
    assert greeted.stdout.strip() == "Hello, linus!"
    worked = _cli(tmp_path, hello_site, "worker", "run", "hello.counter", "--idle-exit", "0.5")
    assert worked.returncode == 0, worked.stderr
    assert "Processed 1 record(s)" in worked.stdout
    counted = _cli(tmp_path, hello_site, "hello", "list", "--json")
    assert json.loads(counted.stdout) == {"linus": 1}


def test_the_app_joins_up_demo(hello_site: str, tmp_path: Path) -> None:
    from skybridge.testing.servers import free_port, wait_for_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "skybridge.cli", "up", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=_env(hello_site),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60, proc=proc)  # type: ignore[arg-type]
        token = (tmp_path / ".skybridge" / "demo-token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

            def counted(expected: dict[str, int]) -> None:
                deadline = time.monotonic() + 30  # the counter pipeline runs inside `up`
                while (found := client.get("/api/hello/counts", headers=auth).json()) != expected:
                    assert time.monotonic() < deadline, f"the pipeline counted {found}"
                    time.sleep(0.2)

            counted({"ada": 2, "grace": 1})  # the demo's greetings
            client.post("/api/hello/greet", json={"name": "ada"}, headers=auth)
            counted({"ada": 3, "grace": 1})
            assert client.get("/ui/hello", follow_redirects=False).status_code == 303
    finally:
        proc.terminate()
        proc.wait(timeout=20)
