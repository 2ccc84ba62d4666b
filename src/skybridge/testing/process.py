"""``skybridge up`` in a subprocess on loopback, reached only over HTTP(S): black-box tests.

::

    with service_process(tmp_path, "--tls-cert", cert, "--tls-key", key,
                         scheme="https", verify=ssl.create_default_context(cafile=cert)) as svc:
        svc.client().get("/api/whoami", headers=svc.auth)

The service runs with no inherited ``SKYBRIDGE*`` settings and a random
``server.admin_token`` (``.token``); ``pythonpath`` and ``entry_points`` install extra apps
for it without pip (see :mod:`skybridge.testing.plugins`).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from skybridge.testing.plugins import fake_distribution
from skybridge.testing.servers import free_port
from skybridge.testing.service import clear_skybridge_env


@dataclass
class ServiceProcess:
    """A running ``skybridge up``: its base URL, admin token and process."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path
    verify: ssl.SSLContext | bool = True

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def client(self, **options: Any) -> httpx.Client:
        """An HTTP client for the service (``options`` go to ``httpx.Client``)."""
        return httpx.Client(base_url=self.url, verify=self.verify, timeout=30, **options)

    def memory_mib(self) -> dict[str, float]:
        """The server process's resident memory now (``VmRSS``) and at its peak (``VmHWM``)."""
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
        return fields

    def raw_socket(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


def _wait_healthy(service: ServiceProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"skybridge up exited: {service.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{service.url}healthz", verify=service.verify).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{service.url} did not become healthy")


def service_env(
    workdir: Path,
    token: str,
    *,
    env: Mapping[str, str] | None = None,
    pythonpath: Sequence[Path] = (),
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """The environment of a service in ``workdir``: no inherited settings, the admin token,
    ``pythonpath`` and a distribution declaring ``entry_points`` on ``PYTHONPATH``."""
    environ = clear_skybridge_env()
    paths = [str(p) for p in pythonpath]
    if entry_points:
        paths.insert(0, str(fake_distribution(workdir / "site", "service-extras", entry_points)))
    inherited = environ.get("PYTHONPATH")
    environ["PYTHONPATH"] = os.pathsep.join([*paths, inherited] if inherited else paths)
    environ["SKYBRIDGE__SERVER__ADMIN_TOKEN"] = token
    environ.update(env or {})
    return environ


@contextmanager
def service_process(
    workdir: Path,
    *args: str,
    scheme: str = "http",
    verify: ssl.SSLContext | bool = True,
    stderr_pipe: bool = False,
    **environment: Any,
) -> Iterator[ServiceProcess]:
    """``skybridge up --no-background ARGS`` in ``workdir`` on a free loopback port, until the
    block ends (then SIGTERM). ``environment``: ``env``, ``pythonpath``, ``entry_points`` of
    :func:`service_env`. Its output goes to ``service.log`` in ``workdir``; with
    ``stderr_pipe``, stderr goes to a pipe (``process.stderr``) that the caller reads, or not."""
    workdir.mkdir(parents=True, exist_ok=True)
    token = "admin-" + secrets.token_urlsafe(32)
    port = free_port()
    log = workdir / "service.log"
    command = [sys.executable, "-m", "skybridge.cli", "up", "--no-background", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, *args],
            cwd=workdir,
            env=service_env(workdir, token, **environment),
            stdout=output,
            stderr=subprocess.PIPE if stderr_pipe else subprocess.STDOUT,
        )
        service = ServiceProcess(f"{scheme}://127.0.0.1:{port}/", token, process, log, verify)
        try:
            _wait_healthy(service)
            yield service
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


def run_cli(
    folder: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``skybridge ARGS`` in a process of its own in ``folder``, with no inherited
    ``SKYBRIDGE*`` setting but ``env``; its output captured as text (``check``: raise on a
    non-zero exit)."""
    return subprocess.run(
        [sys.executable, "-m", "skybridge.cli", *args],
        cwd=folder,
        env=clear_skybridge_env() | dict(env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


#: What starts a service: ``with start(workdir, *args, **options) as service: ...``.
ServiceStarter = Callable[..., AbstractContextManager[ServiceProcess]]
