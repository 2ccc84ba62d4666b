"""Fixtures of the layers tests: tiny real wheels in a local folder (pip installs them offline),
an app context on embedded backends, and the PyPA advisory snapshot from ``../shared/data``."""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.layers.install import Sources
from skybridge.apps.layers.wheels import write_wheel
from skybridge.testing.service import ServiceHarness, service_harness

#: The PyPA advisory database snapshot of the shared data (read in place, never copied).
ADVISORIES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "pypa-advisories"
needs_advisories = pytest.mark.xfail(
    not ADVISORIES.is_dir(),
    reason=f"the PyPA advisory snapshot is not at {ADVISORIES}",
    strict=True,
)
#: The host's Python and machine as a Lambda target (the smoke test then runs here).
HOST_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
HOST_ARCH = "arm64" if platform.machine() == "aarch64" else "x86_64"

TINY = (
    '"""tiny: a small package for tests."""\n\nVALUE = 42\n\n\n'
    "def main() -> None:\n    print(VALUE)\n"
)


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    """A folder of tiny wheels: tiny 1.0/2.0 (with tests, stubs, an entry point), helper 0.1,
    broken 1.0 (its module raises on import) and binx 1.0 for x86_64 and aarch64."""
    folder = tmp_path / "wheels"
    for version in ("1.0", "2.0"):
        write_wheel(
            folder,
            "tiny",
            version,
            {
                "tiny/__init__.py": TINY,
                "tiny/__init__.pyi": "VALUE: int\n",
                "tiny/tests/__init__.py": "",
                "tiny/tests/test_tiny.py": "def test_it():\n    pass\n",
                "tiny/docs/guide.md": "# Guide\n" * 200,
                "tiny/conftest.py": "import tiny._speed_tests\n",
                "tiny/_speed_tests.cpython-312-x86_64-linux-gnu.so": "\x7fELF test helper",
                "tiny/lib/libtiny.a": "!<arch>\n",
            },
            requires=("helper==0.1",),
            entry_points="[console_scripts]\ntiny = tiny:main\n",
        )
    write_wheel(
        folder,
        "helper",
        "0.1",
        {"helper.py": "def help() -> str:\n    return 'ok'\n"},
        licence=None,
    )
    write_wheel(folder, "broken", "1.0", {"broken/__init__.py": "raise ImportError('boom')\n"})
    for machine in ("x86_64", "aarch64"):
        write_wheel(
            folder,
            "binx",
            "1.0",
            {"binx/__init__.py": "", f"binx/_core.{machine}.so": "\x7fELF" + machine},
            tag=f"cp312-cp312-manylinux2014_{machine}",
        )
    return folder


@pytest.fixture
def offline(wheelhouse: Path) -> Sources:
    """pip sources: the wheelhouse alone."""
    return Sources(find_links=(str(wheelhouse),), no_index=True)


@pytest.fixture
def requirements(tmp_path: Path) -> Any:
    """``requirements(text)`` writes a requirements file and returns its path."""
    count = iter(range(1000))

    def write(text: str) -> Path:
        path = tmp_path / f"requirements-{next(count)}.txt"
        path.write_text(text)
        return path

    return write


@pytest.fixture
def layers_ctx(skybridge_workdir: Path, wheelhouse: Path) -> AppContext[Any]:
    """The layers app on embedded backends in a fresh workdir, installing from the wheelhouse."""
    database = f'advisories = "{ADVISORIES}"\n' if ADVISORIES.is_dir() else ""
    (skybridge_workdir / "skybridge.toml").write_text(
        f'[layers]\nruntime = "{HOST_RUNTIME}"\nfind_links = ["{wheelhouse}"]\nno_index = true\n'
        + database
    )
    spec = find_app(discover_apps(), "layers")
    return AppContext.create(spec, load_settings([spec]))


@pytest.fixture
def service(skybridge_workdir: Path) -> Iterator[ServiceHarness]:
    """The layers app with the demo (a layer in use, a rollout under way), signed in."""
    spec = find_app(discover_apps(), "layers")
    spec.load("demo")(AppContext.create(spec, load_settings([spec]), demo=True))
    with service_harness([spec]) as harness:
        harness.login()
        yield harness
