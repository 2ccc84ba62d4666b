"""Scanning a built layer: known vulnerabilities, licences, and first-party code.

* Vulnerabilities: each installed distribution (found through its dist-info) against an
  offline OSV database (:mod:`.advisories`).
* Licences: what each distribution declares; a licence matching ``deny`` (globs such as
  ``AGPL-*``) is a high finding, a distribution declaring none a low one.
* Code: bandit's AST checks on the caller's own code (``code``), never on third-party
  packages, where such checks flag every dependency.

The report fails when a finding reaches ``fail_on`` (``low`` ... ``critical``, or ``never``);
a vulnerability whose record states no severity ranks as ``unknown_as`` (``high`` unless set).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skybridge.apps.layers.advisories import AdvisoryDatabase
from skybridge.apps.layers.inventory import Package
from skybridge.apps.layers.licences import denied
from skybridge.apps.layers.severity import LEVELS, rank
from skybridge.core.errors import MissingDependency, TerminalError, ValidationError

BANDIT_TIMEOUT = 600


@dataclass(frozen=True)
class Finding:
    """One thing the scan reports."""

    kind: str  # vulnerability | licence | code
    package: str
    version: str
    id: str
    severity: str
    summary: str
    aliases: tuple[str, ...] = ()
    fix: str = ""


@dataclass(frozen=True)
class ScanPolicy:
    """What fails a scan."""

    fail_on: str = "high"
    unknown_as: str = "high"
    deny_licences: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.fail_on not in (*LEVELS, "never"):
            raise ValidationError(f"fail_on {self.fail_on!r}: use never or one of {LEVELS}")
        if self.unknown_as not in LEVELS:
            raise ValidationError(f"unknown_as {self.unknown_as!r}: use one of {LEVELS}")


@dataclass
class ScanReport:
    """Findings, whether they fail the build, and what could not be scanned."""

    policy: ScanPolicy
    findings: list[Finding] = field(default_factory=list)
    database: str | None = None
    notes: list[str] = field(default_factory=list)

    def failing(self) -> list[Finding]:
        """Findings at or above the policy's threshold."""
        if self.policy.fail_on == "never":
            return []
        bar = LEVELS.index(self.policy.fail_on)
        return [f for f in self.findings if rank(f.severity, self.policy.unknown_as) >= bar]

    @property
    def passed(self) -> bool:
        return not self.failing()

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for finding in self.findings:
            found[finding.severity] = found.get(finding.severity, 0) + 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "fail_on": self.policy.fail_on,
            "unknown_as": self.policy.unknown_as,
            "database": self.database,
            "counts": self.counts(),
            "failing": len(self.failing()),
            "notes": self.notes,
            "findings": [asdict(f) for f in self.findings],
        }


def scan_layer(
    packages: Sequence[Package],
    policy: ScanPolicy,
    *,
    database: Path | None,
    code: Path | None = None,
) -> ScanReport:
    """Scan ``packages`` (and first-party ``code``) under ``policy``."""
    report = ScanReport(policy, database=str(database) if database else None)
    if database is None:
        report.notes.append(UNCHECKED)
    else:
        report.findings += vulnerabilities(packages, AdvisoryDatabase(database))
    report.findings += licence_findings(packages, policy.deny_licences)
    if code is not None:
        report.findings += bandit_findings(code)
    return report


#: The note of a scan that had no advisory database to check vulnerabilities against.
UNCHECKED = "no advisory database configured: vulnerabilities were not checked"


def vulnerabilities(packages: Iterable[Package], database: AdvisoryDatabase) -> list[Finding]:
    found = []
    for package in packages:
        for advisory in database.affecting(package.name, package.version):
            fix = f"upgrade to {' or '.join(advisory.fixed)}" if advisory.fixed else "no fix yet"
            found.append(
                Finding(
                    "vulnerability",
                    package.name,
                    package.version,
                    advisory.id,
                    advisory.severity,
                    advisory.summary,
                    advisory.aliases,
                    fix,
                )
            )
    return found


def licence_findings(packages: Iterable[Package], deny: Sequence[str]) -> list[Finding]:
    found = []
    for package in packages:
        if package.licence is None:
            found.append(
                Finding(
                    "licence",
                    package.name,
                    package.version,
                    "no-licence",
                    "low",
                    "declares no licence in its metadata",
                )
            )
        elif (pattern := denied(package.licence, deny)) is not None:
            found.append(
                Finding(
                    "licence",
                    package.name,
                    package.version,
                    "denied-licence",
                    "high",
                    f"licence {package.licence} matches {pattern}",
                )
            )
    return found


def bandit_findings(code: Path) -> list[Finding]:
    """bandit's findings on first-party ``code`` (a file or folder)."""
    if not code.exists():
        raise ValidationError(f"code to scan {code} does not exist")
    if importlib.util.find_spec("bandit") is None:  # run as a process, never imported here
        raise MissingDependency("bandit", "layers", feature="scanning first-party code")
    done = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", "-q", "-f", "json", str(code)],
        capture_output=True,
        text=True,
        timeout=BANDIT_TIMEOUT,
        check=False,
    )
    try:
        results = json.loads(done.stdout)["results"]
    except (ValueError, KeyError):
        raise TerminalError(f"bandit failed on {code}: {done.stderr.strip()[-300:]}") from None
    return [
        Finding(
            "code",
            str(Path(r["filename"]).name),
            str(r["line_number"]),
            r["test_id"],
            str(r["issue_severity"]).lower(),
            f"{r['issue_text']} ({r['filename']}:{r['line_number']})",
        )
        for r in results
    ]
