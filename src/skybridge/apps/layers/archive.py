"""The layer zip: deterministic (sorted entries, fixed times and modes), so the same files give
the same bytes and the same digest, and a rebuild of unchanged inputs publishes nothing new."""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

#: Lambda extracts layers under /opt; Python layers put packages in ``python/``.
ROOT = "python"
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Archive:
    """A written layer zip."""

    path: Path
    zipped: int
    unzipped: int
    files: int
    sha256: str


def write_archive(site: Path, dest: Path, *, level: int = 9) -> Archive:
    """Zip the folder ``site`` as ``python/...`` into ``dest``."""
    files = sorted(p for p in site.rglob("*") if p.is_file() and not p.is_symlink())
    unzipped = 0
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for path in files:
            info = zipfile.ZipInfo(f"{ROOT}/{path.relative_to(site).as_posix()}", _EPOCH)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data, compresslevel=level)
    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
    return Archive(dest, dest.stat().st_size, unzipped, len(files), digest)


def extract(archive: Path, dest: Path) -> Path:
    """Unpack a layer zip into ``dest``; the ``python/`` folder inside it."""
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            if member.filename.startswith("/") or ".." in Path(member.filename).parts:
                raise ValueError(f"unsafe path in layer zip: {member.filename}")
        zipped.extractall(dest)
    return dest / ROOT
