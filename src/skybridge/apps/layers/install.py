"""Installing wheels for another platform with pip, without Docker.

``pip install --target DIR --platform <manylinux tags> --python-version X.Y --implementation cp
--only-binary=:all: --no-compile``: pip picks the wheels the target runtime can load, whatever
the host runs, and writes no bytecode (the host's ``.pyc`` are useless to another Python and
only add weight). A package with no wheel for the target cannot be built this way; the error
says which one. pip evaluates environment markers other than the Python version against the
host (a dependency marked ``platform_machine == "aarch64"`` is missed on an x86 host): list such
dependencies explicitly.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skybridge.apps.layers.targets import Target
from skybridge.core.errors import TerminalError, ValidationError
from skybridge.core.secret import scrub

_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_INVALID = re.compile(r"Invalid requirement: (.+)")
_COLLECTING = re.compile(r"^(?:Collecting|Processing|Downloading|Using cached) (\S+)")
#: Seconds pip may take for one build's downloads and installs.
PIP_TIMEOUT = 1800


@dataclass(frozen=True)
class Sources:
    """Where pip finds wheels: its own configuration unless told (``--find-links``...)."""

    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    no_index: bool = False

    def options(self) -> list[str]:
        found = [item for link in self.find_links for item in ("--find-links", link)]
        if self.index_url:
            found += ["--index-url", self.index_url]
        return [*found, "--no-index"] if self.no_index else found

    def fingerprint(self) -> str:
        return f"{sorted(self.find_links)}|{self.index_url}|{self.no_index}"


def pip_command(requirements: Path, target: Target, dest: Path, sources: Sources) -> list[str]:
    """The pip command line that installs ``requirements`` for ``target`` into ``dest``."""
    command = [sys.executable, "-m", "pip", "install", "--target", str(dest)]
    command += ["--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", target.python_version, "--no-compile"]
    command += ["--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
    for platform in target.platforms():
        command += ["--platform", platform]
    return [*command, *sources.options(), "-r", str(requirements)]


def pip_install(
    requirements: Path,
    target: Target,
    dest: Path,
    sources: Sources,
    *,
    on_package: Callable[[str], None] | None = None,
) -> None:
    """Install for ``target`` into ``dest``; ``on_package`` hears each package pip takes.

    Raises:
        ValidationError: no wheel fits the target for a requirement (named).
        TerminalError: pip failed otherwise (its last lines are in the message).
    """
    command = pip_command(requirements, target, dest, sources)
    output: list[str] = []
    # One pipe for both streams: reading stdout while stderr fills up would dead-lock.
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            found = _COLLECTING.match(line.strip())
            if found and on_package is not None:
                on_package(found.group(1))
        code = proc.wait(timeout=PIP_TIMEOUT)
    if code != 0:
        raise _pip_error("".join(output), target)


def _pip_error(output: str, target: Target) -> Exception:
    missing = _NO_MATCH.search(output)
    if missing is not None:
        return ValidationError(
            f"no wheel of {missing.group(1)} fits {target} (manylinux, CPython "
            f"{target.python_version})",
            hint="pin a version that publishes manylinux wheels for this runtime and "
            "architecture, or build that package in an Amazon Linux container",
        )
    invalid = _INVALID.search(output)
    if invalid is not None:
        return ValidationError(
            f"pip cannot read the requirement {scrub(invalid.group(1).strip())}",
            hint="write one requirement per line, e.g. requests==2.32.3",
        )
    tail = [line for line in output.splitlines() if line.strip() and "WARNING" not in line]
    return TerminalError(f"pip failed: {scrub(' | '.join(tail[-4:]))}")
