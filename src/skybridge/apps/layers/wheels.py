"""Writing small pure-Python wheels: the demo's offline packages, and test fixtures.

A wheel is a zip with the package's modules and a ``<name>-<version>.dist-info`` folder
(``METADATA``, ``WHEEL``, ``RECORD``, optional ``entry_points.txt``) as the wheel spec says, so
pip installs it like any other.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping
from pathlib import Path

from skybridge.core.private_files import private_dir


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_wheel(
    folder: Path,
    name: str,
    version: str,
    modules: Mapping[str, str],
    *,
    requires: tuple[str, ...] = (),
    licence: str | None = "MIT",
    entry_points: str = "",
    tag: str = "py3-none-any",
) -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` into ``folder`` and return its path.

    Args:
        modules: File path inside the wheel (``tiny/__init__.py``) -> its text.
        requires: ``Requires-Dist`` lines.
        entry_points: The text of ``entry_points.txt`` (empty: none).
        tag: The wheel's compatibility tag (``cp312-cp312-manylinux2014_aarch64`` for a
            platform wheel).
    """
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.4", f"Name: {name}", f"Version: {version}"]
    metadata += [f"License-Expression: {licence}"] if licence else []
    metadata += [f"Requires-Dist: {r}" for r in requires]
    files: dict[str, bytes] = {path: text.encode() for path, text in modules.items()}
    files[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    pure = "true" if tag.endswith("-none-any") else "false"
    wheel_text = f"Wheel-Version: 1.0\nGenerator: skybridge\nRoot-Is-Purelib: {pure}\nTag: {tag}\n"
    files[f"{info}/WHEEL"] = wheel_text.encode()
    if entry_points:
        files[f"{info}/entry_points.txt"] = entry_points.encode()
    record = [f"{path},{_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    private_dir(folder)
    path = folder / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for member, data in files.items():
            wheel.writestr(member, data)
    return path
