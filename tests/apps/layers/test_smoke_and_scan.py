"""The smoke test catches what the original slimming broke; the scan reports what matters."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from skybridge.apps.layers.build import BuildRequest, BuildResult, build_layer
from skybridge.apps.layers.bytecode import cold_start
from skybridge.apps.layers.install import Sources
from skybridge.apps.layers.interpreters import Interpreter, find_interpreter
from skybridge.apps.layers.inventory import read_packages
from skybridge.apps.layers.scan import ScanPolicy, bandit_findings, scan_layer
from skybridge.apps.layers.smoke import smoke_test
from skybridge.apps.layers.targets import Target
from skybridge.core.errors import ValidationError

from .conftest import HOST_ARCH, HOST_RUNTIME

Write = Callable[[str], Path]
HOST = Target(HOST_RUNTIME, HOST_ARCH)


@pytest.fixture
def host() -> Interpreter:
    found = find_interpreter(HOST.python_version)
    assert found is not None
    return found


def _build(tmp_path: Path, offline: Sources, requirements: Write, text: str) -> BuildResult:
    return build_layer(BuildRequest("deps", requirements(text), HOST, offline), tmp_path / "cache")


def test_smoke_test_passes_with_metadata_and_entry_points(
    tmp_path: Path, offline: Sources, requirements: Write, host: Interpreter
) -> None:
    result = _build(tmp_path, offline, requirements, "tiny==1.0\n")
    smoke = smoke_test(result.site, list(result.packages), HOST, host)
    assert smoke.passed is True, smoke.failures
    tiny = next(row for row in smoke.packages if row["name"] == "tiny")
    assert tiny["found_version"] == "1.0"
    assert tiny["modules"] == {"tiny": "ok"}
    assert tiny["entry_points"] == {"console_scripts:tiny": "ok"}


def test_deleting_dist_info_as_the_original_did_fails_the_smoke_test(
    tmp_path: Path, offline: Sources, requirements: Write, host: Interpreter
) -> None:
    result = _build(tmp_path, offline, requirements, "tiny==1.0\n")
    packages = list(result.packages)
    shutil.rmtree(result.site / "tiny-1.0.dist-info")
    smoke = smoke_test(result.site, packages, HOST, host)
    assert smoke.passed is False
    assert any("importlib.metadata.version()" in line and "tiny" in line for line in smoke.failures)


def test_a_module_that_fails_to_import_fails_the_smoke_test(
    tmp_path: Path, offline: Sources, requirements: Write, host: Interpreter
) -> None:
    result = _build(tmp_path, offline, requirements, "broken==1.0\n")
    smoke = smoke_test(result.site, list(result.packages), HOST, host)
    assert smoke.passed is False
    assert any("ImportError: boom" in line for line in smoke.failures)


def test_compiled_code_for_another_machine_is_reported_as_not_run(
    tmp_path: Path, offline: Sources, requirements: Write, host: Interpreter
) -> None:
    other = Target("python3.12", "arm64" if HOST_ARCH == "x86_64" else "x86_64")
    result = build_layer(
        BuildRequest("bin", requirements("binx==1.0\n"), other, offline), tmp_path / "c"
    )
    smoke = smoke_test(result.site, list(result.packages), other, host)
    assert smoke.passed is True  # the metadata was checked; nothing failed
    assert smoke.skipped == [
        f"binx: compiled for {other.machine}; this machine runs {host.machine}"
    ]
    assert smoke.packages[0]["modules"] == {}
    assert smoke.packages[0]["found_version"] == "1.0"


def test_no_interpreter_for_the_target_means_not_run(
    tmp_path: Path, offline: Sources, requirements: Write
) -> None:
    result = _build(tmp_path, offline, requirements, "tiny==1.0\n")
    smoke = smoke_test(result.site, list(result.packages), Target("python3.14", HOST_ARCH), None)
    assert (smoke.ran, smoke.passed) == (False, None)
    assert "3.14" in smoke.reason


def test_licences_and_a_denied_licence(
    tmp_path: Path, offline: Sources, requirements: Write
) -> None:
    result = _build(tmp_path, offline, requirements, "tiny==1.0\n")
    report = scan_layer(result.packages, ScanPolicy(deny_licences=("mit",)), database=None)
    ids = {(f.package, f.id, f.severity) for f in report.findings}
    assert ("helper", "no-licence", "low") in ids
    assert ("tiny", "denied-licence", "high") in ids
    assert not report.passed
    assert "no advisory database" in report.notes[0]
    assert scan_layer(result.packages, ScanPolicy(fail_on="critical"), database=None).passed


def test_bandit_scans_first_party_code_only(tmp_path: Path) -> None:
    code = tmp_path / "app"
    code.mkdir()
    (code / "handler.py").write_text(
        "def handler(event, context):\n    return eval(event['expr'])\n"
    )
    findings = bandit_findings(code)
    assert [f.id for f in findings] == ["B307"]
    with pytest.raises(ValidationError):
        bandit_findings(tmp_path / "missing")


def test_bad_policy_names_the_levels() -> None:
    with pytest.raises(ValidationError, match="fail_on"):
        ScanPolicy(fail_on="severe")


def test_cold_start_proxy_times_imports_with_and_without_bytecode(
    tmp_path: Path, offline: Sources, requirements: Write, host: Interpreter
) -> None:
    result = _build(tmp_path, offline, requirements, "tiny==1.0\n")
    timing = cold_start(result.site, ["tiny", "helper"], host, runs=3)
    assert timing.source_only > 0
    assert timing.with_bytecode > 0
    assert not list(result.site.rglob("*.pyc"))  # measured on a copy
    assert read_packages(result.site)
