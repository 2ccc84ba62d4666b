"""Known vulnerabilities from an offline OSV-format database.

The database is a folder of OSV records (``.json``, ``.yaml``, ``.yml``; the PyPA advisory
database keeps one folder per package under ``vulns/``) or a zip of them (OSV's
``PyPI/all.zip``). A version is affected when it is listed in ``affected[].versions`` or lies in
an ``ECOSYSTEM`` range: the range's events sorted by version, ``introduced`` opens, ``fixed``
closes (from that version on), ``last_affected`` closes after it, as the OSV schema defines.
Withdrawn records are ignored.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from skybridge.apps.layers.severity import severity_of
from skybridge.core.errors import ValidationError

_SUFFIXES = (".json", ".yaml", ".yml")


def normalize(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Advisory:
    """One known vulnerability that affects an installed version."""

    id: str
    package: str
    version: str
    aliases: tuple[str, ...]
    summary: str
    severity: str
    fixed: tuple[str, ...]


class AdvisoryDatabase:
    """An OSV database on disk, read per package on demand and kept in memory."""

    def __init__(self, location: Path) -> None:
        if not location.exists():
            raise ValidationError(
                f"advisory database {location} does not exist",
                hint="point [layers] advisories at a copy of the PyPA advisory database or an "
                "OSV PyPI export (folder or zip)",
            )
        self.location = location
        self._by_package: dict[str, list[dict[str, Any]]] | None = None

    def _records(self, package: str) -> list[dict[str, Any]]:
        own = self.location / "vulns" / package
        if self._by_package is None and own.is_dir():
            return [r for r in map(_read, sorted(own.iterdir())) if r is not None]
        if self._by_package is None:
            self._by_package = _index(self._all())
        return self._by_package.get(package, [])

    def _all(self) -> Iterator[dict[str, Any]]:
        if self.location.is_file():
            with zipfile.ZipFile(self.location) as archive:
                for name in archive.namelist():
                    if name.endswith(_SUFFIXES):
                        yield _parse(name, archive.read(name))
            return
        for path in sorted(self.location.rglob("*")):
            record = _read(path)
            if record is not None:
                yield record

    def affecting(self, package: str, version: str) -> list[Advisory]:
        """Advisories that affect ``version`` of ``package``, by id."""
        name = normalize(package)
        found = {}
        for record in self._records(name):
            if record.get("withdrawn"):
                continue
            for affected in record.get("affected", []):
                if _names(affected) == name and _affects(affected, version):
                    found[record["id"]] = _advisory(record, affected, name, version)
        return [found[k] for k in sorted(found)]


def _read(path: Path) -> dict[str, Any] | None:
    if not path.is_file() or path.suffix not in _SUFFIXES:
        return None
    return _parse(path.name, path.read_bytes())


def _parse(name: str, data: bytes) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    record = json.loads(data) if name.endswith(".json") else yaml.load(data, Loader=loader)  # noqa: S506
    if not isinstance(record, dict) or "id" not in record:
        raise ValidationError(f"advisory file {name} is not an OSV record (no 'id')")
    return record


def _index(records: Iterator[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        for name in {_names(a) for a in record.get("affected", [])}:
            found.setdefault(name, []).append(record)
    return found


def _names(affected: dict[str, Any]) -> str:
    package = affected.get("package", {})
    return normalize(str(package.get("name", ""))) if package.get("ecosystem") == "PyPI" else ""


def _affects(affected: dict[str, Any], version: str) -> bool:
    listed = {str(v) for v in affected.get("versions", [])}
    if version in listed:
        return True
    try:
        installed = Version(version)
    except InvalidVersion:
        return False
    return any(
        _in_range(installed, r.get("events", []))
        for r in affected.get("ranges", [])
        if r.get("type") == "ECOSYSTEM"
    )


def _in_range(version: Version, events: list[dict[str, Any]]) -> bool:
    keyed = [(key, e) for e in events if (key := _event_key(e)) is not None]
    keyed.sort(key=lambda pair: pair[0])
    affected = False
    for (_, at), event in keyed:
        if "introduced" in event and version >= at:
            affected = True
        elif ("fixed" in event and version >= at) or ("last_affected" in event and version > at):
            affected = False
    return affected


def _event_key(event: dict[str, Any]) -> tuple[int, Version] | None:
    raw = str(next(iter(event.values()), ""))
    if raw == "0":
        return (0, Version("0"))
    try:
        return (1, Version(raw))
    except InvalidVersion:
        return None


def _advisory(
    record: dict[str, Any], affected: dict[str, Any], name: str, version: str
) -> Advisory:
    fixed = [
        str(e["fixed"])
        for r in affected.get("ranges", [])
        if r.get("type") == "ECOSYSTEM"
        for e in r.get("events", [])
        if "fixed" in e
    ]
    text = str(record.get("summary") or record.get("details") or "").strip()
    return Advisory(
        id=str(record["id"]),
        package=name,
        version=version,
        aliases=tuple(str(a) for a in record.get("aliases", [])),
        summary=text.splitlines()[0][:300] if text else "",
        severity=severity_of(record),
        fixed=tuple(sorted(set(fixed), key=_sort_version)),
    )


def _sort_version(raw: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(raw))
    except InvalidVersion:
        return (1, raw)
