"""Building a layer: install for the target, slim, optionally precompile, zip; cached by content.

The cache key is a digest of everything that decides the result: the requirements (comments
and order aside), the target, where wheels come from, the slimming and bytecode options, and
the versions of pip and of this builder. A build with unchanged inputs is served from
``<cache>/<key>/`` without running pip; changing any input changes the key, so a stale build
is never served. Unpinned requirements are never cached (see :mod:`.requirements`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

from skybridge.apps.layers.archive import Archive, write_archive
from skybridge.apps.layers.bytecode import precompile
from skybridge.apps.layers.install import Sources, pip_install
from skybridge.apps.layers.interpreters import Interpreter
from skybridge.apps.layers.inventory import Package, read_packages
from skybridge.apps.layers.requirements import read_requirements
from skybridge.apps.layers.slim import slim
from skybridge.apps.layers.targets import UNZIPPED_LIMIT, Target
from skybridge.core.errors import ValidationError
from skybridge.core.private_files import private_dir

#: Bumped whenever the builder's output for the same inputs changes.
BUILDER_VERSION = "2"
Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class BuildRequest:
    """What to build: a requirements file for a target, and how."""

    name: str
    requirements: Path
    target: Target
    sources: Sources = field(default_factory=Sources)
    precompile: bool = False
    strip: bool = False
    keep: tuple[str, ...] = ()
    function_bytes: int = 0


@dataclass(frozen=True)
class BuildResult:
    """A built layer: its zip, its unpacked ``python/`` folder and what went into it."""

    request: BuildRequest
    key: str
    cached: bool
    pinned: bool
    archive: Archive
    site: Path
    packages: tuple[Package, ...]
    slim: dict[str, Any]
    precompiled: bool
    built_at: float = field(default_factory=time.time)

    @property
    def budget_left(self) -> int:
        """Bytes left of Lambda's 250 MB for the function and its other layers."""
        return UNZIPPED_LIMIT - self.archive.unzipped - self.request.function_bytes

    def largest(self, count: int = 10) -> list[Package]:
        return sorted(self.packages, key=lambda p: -p.size)[:count]


def cache_key(request: BuildRequest, fingerprint: str) -> str:
    """The digest of every input that decides the build's bytes."""
    inputs = {
        "requirements": fingerprint,
        "target": str(request.target),
        "sources": request.sources.fingerprint(),
        "precompile": request.precompile,
        "strip": request.strip,
        "keep": sorted(request.keep),
        "pip": dist_version("pip"),
        "builder": BUILDER_VERSION,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:32]


#: The prefix of a build's scratch folder in the cache, removed when the build ends.
SCRATCH = "build-"
#: A scratch folder untouched for this long was left by a build that was killed.
STALE_SECONDS = 6 * 3600.0


def sweep_scratch(cache: Path, *, now: float | None = None) -> list[Path]:
    """Remove the scratch folders killed builds left in ``cache`` (a build's own goes when it
    ends, even on Ctrl-C; only SIGKILL leaves one); those of builds under way are younger."""
    now = time.time() if now is None else now
    removed = []
    for folder in cache.glob(f"{SCRATCH}*"):
        try:
            if folder.is_dir() and now - folder.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(folder)
                removed.append(folder)
        except OSError:
            continue
    return removed


def build_layer(
    request: BuildRequest,
    cache: Path,
    *,
    interpreter: Interpreter | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Build (or take from ``cache``) the layer ``request`` describes.

    Args:
        interpreter: The target Python, needed when ``request.precompile`` is set.
        progress: Hears ``(stage, detail)``: ``install``/package, ``slim``, ``precompile``,
            ``zip``, ``cached``.

    Raises:
        ValidationError: a bad requirements file, no wheel for the target, or precompiling
            asked for without a target interpreter.
    """
    tell = progress or (lambda stage, detail: None)
    requirements = read_requirements(request.requirements)
    key = cache_key(request, requirements.fingerprint())
    done = cache / key
    if requirements.pinned and (done / "build.json").is_file():
        tell("cached", key)
        return _load(request, done, key)
    if request.precompile and interpreter is None:
        raise ValidationError(
            f"precompiling for {request.target} needs a Python {request.target.python_version} "
            "interpreter, and none was found",
            hint="name one in [layers] interpreters, or build without --precompile",
        )
    private_dir(cache)
    sweep_scratch(cache)
    with tempfile.TemporaryDirectory(prefix=SCRATCH, dir=cache) as scratch:
        stage = Path(scratch)
        meta = _build_into(request, stage / "python", interpreter, tell)
        write_archive(stage / "python", stage / "layer.zip")
        (stage / "build.json").write_text(json.dumps({**meta, "pinned": requirements.pinned}))
        if not requirements.pinned:
            key = f"unpinned-{key[:16]}-{int(time.time() * 1000)}"
            done = cache / key
        shutil.rmtree(done, ignore_errors=True)
        for part in ("python", "layer.zip", "build.json"):
            done.mkdir(exist_ok=True)
            (stage / part).rename(done / part)
    return _load(request, done, key, cached=False)


def _build_into(
    request: BuildRequest, site: Path, interpreter: Interpreter | None, tell: Progress
) -> dict[str, Any]:
    site.mkdir(parents=True)
    pip_install(
        request.requirements,
        request.target,
        site,
        request.sources,
        on_package=lambda name: tell("install", name),
    )
    tell("slim", "")
    report = slim(site, request.target, keep=request.keep, strip=request.strip)
    failed = 0
    if request.precompile and interpreter is not None:
        tell("precompile", interpreter.path)
        failed = precompile(site, interpreter)
    tell("zip", "")
    return {
        "slim": report.to_dict(),
        "precompiled": request.precompile,
        "precompile_failures": failed,
        "built_at": time.time(),
    }


def _load(request: BuildRequest, folder: Path, key: str, *, cached: bool = True) -> BuildResult:
    meta = json.loads((folder / "build.json").read_text())
    zipped = folder / "layer.zip"
    site = folder / "python"
    files = [p for p in site.rglob("*") if p.is_file()]
    archive = Archive(
        zipped,
        zipped.stat().st_size,
        sum(p.stat().st_size for p in files),
        len(files),
        hashlib.sha256(zipped.read_bytes()).hexdigest(),
    )
    return BuildResult(
        request=request,
        key=key,
        cached=cached,
        pinned=bool(meta["pinned"]),
        archive=archive,
        site=site,
        packages=tuple(read_packages(site)),
        slim=meta["slim"],
        precompiled=bool(meta["precompiled"]),
        built_at=float(meta["built_at"]),
    )
