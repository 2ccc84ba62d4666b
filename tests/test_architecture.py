"""The layers: core <- backends <- runtime <- app kit <- apps <- surfaces (cli, commands, server).

Checked on the source (every import statement, including those inside functions) and on what
``skybridge --help`` actually imports.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "skybridge"
SURFACES = ("skybridge.server", "skybridge.commands", "skybridge.cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _modules(folder: str) -> list[tuple[str, set[str]]]:
    return [(_module_name(p), _imports(p)) for p in sorted((SRC / folder).rglob("*.py"))]


def _app_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["skybridge", "apps"] and parts[2] != "kit":
        return parts[2]
    return None


def test_apps_never_import_a_surface_or_another_app() -> None:
    problems = []
    for module, imports in _modules("apps"):
        for target in imports:
            if target.startswith(SURFACES):
                problems.append(f"{module} imports the surface {target}")
            own, other = _app_of(module), _app_of(target)
            if other is not None and own != other:
                problems.append(f"{module} imports another app: {target}")
    assert problems == []


def test_the_kit_runtime_backends_and_core_never_import_an_app_or_a_surface() -> None:
    problems = []
    for folder in ("apps/kit", "runtime", "backends", "core"):
        for module, imports in _modules(folder):
            bad = [t for t in imports if t.startswith(SURFACES) or _app_of(t) is not None]
            problems += [f"{module} imports {t}" for t in bad]
    assert problems == []


def test_layers_point_down() -> None:
    below = {"core": ("backends", "runtime"), "backends": ("runtime",)}
    problems = []
    for layer, higher in below.items():
        for module, imports in _modules(layer):
            bad = [t for t in imports if t.startswith(tuple(f"skybridge.{h}" for h in higher))]
            problems += [f"{module} imports {t}" for t in bad]
    assert problems == []


def test_manifests_import_only_the_kit_manifest() -> None:
    for manifest in sorted(SRC.glob("apps/*/manifest.py")):
        if manifest.parent.name == "kit":
            continue
        imports = {i for i in _imports(manifest) if i.startswith("skybridge")}
        assert imports <= {"skybridge.apps.kit.manifest", "skybridge.apps.kit.manifest.AppSpec"}


@pytest.mark.parametrize("argv", [["--help"], ["version"]])
def test_the_root_command_imports_no_app_implementation(argv: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "skybridge.cli", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    apps = {m for m in imported if _app_of(m) is not None}
    assert all(m.count(".") == 2 or m.endswith(".manifest") for m in apps), sorted(apps)
    heavy = {"sqlalchemy", "fastapi", "pydantic_settings", "structlog", "boto3", "torch"}
    assert not heavy & imported
