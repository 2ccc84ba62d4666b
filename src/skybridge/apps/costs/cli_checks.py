"""Checks of ``skybridge costs ingest`` and ``report`` options before any work: an option the
command would ignore is refused, and every output path is checked before any is written, so a
bad ``--csv`` or ``--charts`` leaves nothing half-written behind."""

from __future__ import annotations

import os
from pathlib import Path

from skybridge.core.errors import ValidationError

_NOTHING_WRITTEN = "nothing was written"


def check_ingest_options(
    paths: list[Path],
    bucket: bool,
    prefix: str | None,
    api: str | None,
    start: str | None,
    end: str | None,
) -> None:
    """Refuse an option the chosen source would ignore, naming the one that is missing."""
    if not paths and not bucket and api is None:
        raise ValidationError(
            "nothing to ingest", hint="give files or folders, --bucket, or --api NAME"
        )
    if prefix is not None and not bucket:
        raise ValidationError(
            "--prefix applies only with --bucket",
            hint="add --bucket to ingest the exports under that prefix of backends.objects",
        )
    if api is None:
        given = [o for o, v in (("--from", start), ("--to", end)) if v is not None]
        if given:
            raise ValidationError(
                f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only with "
                "--api NAME",
                hint="files and --bucket are ingested whole; to pull a period from a cost API, "
                "add --api NAME (a source of costs.sources)",
            )
        return
    if paths or bucket:
        raise ValidationError(
            "--api cannot be combined with files or --bucket",
            hint="ingest the API pull and the exports in separate commands",
        )
    if start is None or end is None:
        raise ValidationError("--api needs --from and --to", hint="give the days to pull")


def check_report_outputs(
    csv_file: Path | None, charts: Path | None, chart_format: str | None
) -> str:
    """The chart format (default png), once ``--csv``, ``--charts`` and ``--format`` are usable.

    Raises:
        ValidationError: ``--format`` without ``--charts``, an unknown format, or an output
            path that cannot be written.
    """
    if chart_format is not None and charts is None:
        raise ValidationError(
            "--format applies only with --charts", hint="add --charts FOLDER, or drop --format"
        )
    fmt = chart_format or "png"
    if fmt not in {"png", "svg"}:
        raise ValidationError(f"--format {fmt!r}: use png or svg")
    if csv_file is not None:
        check_output_file(csv_file, "--csv")
    if charts is not None:
        check_output_folder(charts, "--charts")
    return fmt


def check_output_file(path: Path, option: str) -> None:
    """Refuse a file ``path`` that cannot be written: a folder, a file in a folder that does
    not exist or is not writable, or a file this user may not overwrite."""
    if path.is_dir():
        raise ValidationError(
            f"{option} {path} is a folder", hint=f"give a file's path; {_NOTHING_WRITTEN}"
        )
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ValidationError(
            f"{option} {path}: the folder {folder} {what}",
            hint=f"create the folder first or give a path in an existing one; {_NOTHING_WRITTEN}",
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValidationError(
            f"{option} {path} is not writable by this user",
            hint=f"give a path this user may write; {_NOTHING_WRITTEN}",
        )


def check_output_folder(path: Path, option: str) -> None:
    """Refuse a folder ``path`` that is not one, or that cannot be made or written to."""
    if path.exists() and not path.is_dir():
        raise ValidationError(
            f"{option} {path} is a file, not a folder",
            hint=f"give a folder's path (it is made if missing); {_NOTHING_WRITTEN}",
        )
    existing = next((p for p in (path, *path.parents) if p.exists()), Path(path.anchor))
    if not existing.is_dir():
        raise ValidationError(
            f"{option} {path} cannot be made: {existing} is a file, not a folder",
            hint=f"give a path under a folder; {_NOTHING_WRITTEN}",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == path else f"cannot be made in {existing}"
        raise ValidationError(
            f"{option} {path} {what} by this user",
            hint=f"give a folder this user may write; {_NOTHING_WRITTEN}",
        )


def check_chart_files(folder: Path, files: list[Path]) -> None:
    """Refuse chart ``files`` of an existing ``folder`` that are folders or not writable."""
    for path in files if folder.is_dir() else []:
        if path.is_dir() or (path.exists() and not os.access(path, os.W_OK)):
            what = "is a folder" if path.is_dir() else "is not writable by this user"
            raise ValidationError(
                f"--charts {folder}: {path} {what}",
                hint=f"move it away or give another --charts folder; {_NOTHING_WRITTEN}",
            )
