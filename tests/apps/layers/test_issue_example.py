"""The issue's example, with real packages from the package registry: ``requests==2.30.0`` and
``urllib3==1.26.17`` built for python3.12 on arm64 on this x86 machine. The scan reports
PYSEC-2023-74 and PYSEC-2023-212 from the PyPA snapshot; the smoke test imports both (pure
Python) in a python3.12, and reports charset-normalizer's arm64 code as not run here."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.apps.layers.build import BuildRequest, build_layer
from skybridge.apps.layers.interpreters import find_interpreter
from skybridge.apps.layers.scan import ScanPolicy, scan_layer
from skybridge.apps.layers.smoke import smoke_test
from skybridge.apps.layers.targets import Target

from .conftest import ADVISORIES, needs_advisories

pytestmark = pytest.mark.slow
TARGET = Target("python3.12", "arm64")
HAS_312 = find_interpreter("3.12") is not None


@needs_advisories
@pytest.mark.xfail(not HAS_312, reason="no python3.12 interpreter on this machine", strict=True)
def test_requests_and_urllib3_for_arm64_are_scanned_and_import(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("requests==2.30.0\nurllib3==1.26.17\n")
    result = build_layer(BuildRequest("web", requirements, TARGET), tmp_path / "cache")
    versions = {p.name: p.version for p in result.packages}
    assert versions["requests"] == "2.30.0"
    assert versions["urllib3"] == "1.26.17"
    compiled = [p for p in result.packages if p.binary]
    assert all("aarch64" in f for p in compiled for f in p.files if f.endswith(".so"))

    report = scan_layer(result.packages, ScanPolicy(), database=ADVISORIES)
    found = {(f.package, f.id) for f in report.findings}
    assert {("requests", "PYSEC-2023-74"), ("urllib3", "PYSEC-2023-212")} <= found
    assert not report.passed

    smoke = smoke_test(result.site, list(result.packages), TARGET, find_interpreter("3.12"))
    assert smoke.passed is True, smoke.failures
    modules = {row["name"]: row["modules"] for row in smoke.packages}
    assert modules["requests"] == {"requests": "ok"}
    assert modules["urllib3"] == {"urllib3": "ok"}
    assert all(row["found_version"] == versions[row["name"]] for row in smoke.packages)
