"""Installing a plug-in for a test without pip: a ``*.dist-info`` folder with entry points.

Python finds entry points in the ``*.dist-info`` folders on ``sys.path``, so a folder holding
one (and, optionally, the plug-in's code) is an installed distribution for any process that
has it on its path::

    site = fake_distribution(tmp_path / "site", "skybridge-hello",
                             {"skybridge.apps": {"hello": "skybridge_hello.manifest:APP"}})
    subprocess.run([...], env={**os.environ, "PYTHONPATH": f"{site}:{code_dir}"})
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path


def fake_distribution(
    site: Path, name: str, entry_points: Mapping[str, Mapping[str, str]], version: str = "0.1.0"
) -> Path:
    """Write ``<site>/<name>-<version>.dist-info`` declaring ``entry_points``; return ``site``."""
    folder = site / f"{re.sub(r'[-.]+', '_', name)}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, points in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in points.items()]
        lines.append("")
    (folder / "entry_points.txt").write_text("\n".join(lines))
    return site
