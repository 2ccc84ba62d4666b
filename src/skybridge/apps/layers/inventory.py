"""What a layer holds: each distribution's name, version, licence, files, size and top-level
modules, read from its ``*.dist-info`` (which slimming keeps for exactly this reason)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import Distribution, distributions
from pathlib import Path, PurePosixPath

from skybridge.apps.layers.licences import licence_of

BINARY_SUFFIXES = (".so", ".pyd")


@dataclass(frozen=True)
class Package:
    """One installed distribution in a layer."""

    name: str
    version: str
    licence: str | None
    files: tuple[str, ...]
    size: int
    top_level: tuple[str, ...]
    binary: bool
    entry_points: int

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "licence": self.licence,
            "size": self.size,
            "files": len(self.files),
            "top_level": list(self.top_level),
            "binary": self.binary,
            "entry_points": self.entry_points,
        }


def read_packages(site: Path) -> list[Package]:
    """The distributions installed in ``site`` (a ``python/`` folder), by name."""
    found = {_key(d): d for d in distributions(path=[str(site)])}
    return sorted((_package(site, d) for d in found.values()), key=lambda p: p.name.lower())


def _key(dist: Distribution) -> str:
    return str(dist.metadata["Name"]).lower().replace("_", "-")


def _package(site: Path, dist: Distribution) -> Package:
    files = tuple(str(f) for f in dist.files or () if not str(f).startswith(".."))
    size = sum((site / f).stat().st_size for f in files if (site / f).is_file())
    return Package(
        name=str(dist.metadata["Name"]),
        version=dist.version,
        licence=licence_of(dist.metadata),
        files=files,
        size=size,
        top_level=_top_level(dist, files),
        binary=any(f.endswith(BINARY_SUFFIXES) or ".so." in f for f in files),
        entry_points=len(dist.entry_points),
    )


def _top_level(dist: Distribution, files: tuple[str, ...]) -> tuple[str, ...]:
    text = dist.read_text("top_level.txt")
    if text:
        names = {n.strip().replace("/", ".") for n in text.splitlines() if n.strip()}
    else:
        names = {_module_of(PurePosixPath(f)) for f in files}
    return tuple(sorted(n for n in names if n and all(p.isidentifier() for p in n.split("."))))


def _module_of(path: PurePosixPath) -> str:
    head = path.parts[0]
    if len(path.parts) > 1:
        return "" if head.endswith((".dist-info", ".data", ".libs")) or head == "bin" else head
    if head.endswith(".py"):
        return head[: -len(".py")]
    if head.endswith(BINARY_SUFFIXES):
        return head.split(".", 1)[0]
    return ""
