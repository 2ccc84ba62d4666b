"""A layer's report: the build with its smoke test, scan and cold-start figures, kept in kv.

Records live under ``layers/builds/<name>/<time>`` with the newest also at
``layers/latest/<name>``, so the CLI, the routes and the page read the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skybridge.apps.layers.build import BuildResult
from skybridge.apps.layers.bytecode import ColdStart
from skybridge.apps.layers.scan import ScanReport
from skybridge.apps.layers.smoke import SmokeResult
from skybridge.apps.layers.targets import UNZIPPED_LIMIT
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import NotFound

LATEST = "layers/latest/"
BUILDS = "layers/builds/"
MB = 1024 * 1024


@dataclass
class LayerReport:
    """Everything known about one build."""

    build: BuildResult
    smoke: SmokeResult | None = None
    scan: ScanReport | None = None
    cold_start: ColdStart | None = None

    def problems(self) -> list[str]:
        """Why this build must not ship (empty: it may)."""
        found = []
        if self.build.budget_left < 0:
            found.append(
                f"over Lambda's 250 MB unzipped budget by {-self.build.budget_left / MB:.1f} MB"
            )
        if self.smoke is not None and self.smoke.passed is False:
            found.append(f"smoke test failed: {'; '.join(self.smoke.failures[:3])}")
        if self.scan is not None and not self.scan.passed:
            ids = ", ".join(sorted({f.id for f in self.scan.failing()})[:6])
            found.append(
                f"scan found {len(self.scan.failing())} finding(s) at or above "
                f"{self.scan.policy.fail_on}: {ids}"
            )
        return found

    def to_dict(self) -> dict[str, Any]:
        build, request = self.build, self.build.request
        return {
            "name": request.name,
            "key": build.key,
            "runtime": request.target.runtime,
            "architecture": request.target.architecture,
            "digest": build.archive.sha256,
            "zip": str(build.archive.path),
            "zipped": build.archive.zipped,
            "unzipped": build.archive.unzipped,
            "files": build.archive.files,
            "budget_left": build.budget_left,
            "budget": UNZIPPED_LIMIT,
            "cached": build.cached,
            "pinned": build.pinned,
            "precompiled": build.precompiled,
            "slim": build.slim,
            "packages": [p.to_dict() for p in build.packages],
            "largest": [{"name": p.name, "size": p.size} for p in build.largest()],
            "smoke": self.smoke.to_dict() if self.smoke else None,
            "scan": self.scan.to_dict() if self.scan else None,
            "cold_start": self.cold_start.to_dict() if self.cold_start else None,
            "built_at": build.built_at,
            "problems": self.problems(),
            "passed": not self.problems(),
        }


def save(store: KeyValueStore, record: dict[str, Any]) -> None:
    """Keep ``record`` as the newest of its layer and in its history."""
    stamp = f"{int(record['built_at'] * 1000):015d}"
    store.put_json(f"{BUILDS}{record['name']}/{stamp}", record)
    store.put_json(f"{LATEST}{record['name']}", record)


def latest(store: KeyValueStore, name: str) -> dict[str, Any]:
    record = store.get_json(f"{LATEST}{name}")
    if record is None:
        raise NotFound(
            f"no build of layer {name!r}",
            hint=f"build it: skybridge layers build {name} -r requirements.txt",
        )
    return dict(record)


def all_latest(store: KeyValueStore) -> list[dict[str, Any]]:
    return [dict(store.get_json(item.key)) for item in store.scan_prefix(LATEST)]


def history(store: KeyValueStore, name: str, limit: int = 50) -> list[dict[str, Any]]:
    """Earlier builds of ``name``, newest first."""
    keys = sorted((item.key for item in store.scan_prefix(f"{BUILDS}{name}/")), reverse=True)
    return [dict(store.get_json(k)) for k in keys[:limit]]
