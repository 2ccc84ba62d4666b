"""A NAB-layout corpus: ``DIR/data/<category>/<series>.csv`` and the labelled windows.

Every CSV has the columns ``timestamp,value``; ``DIR/labels/combined_windows.json`` names each
series by its path under ``data/`` (``realTweets/Twitter_volume_AAPL.csv``) with its anomaly
windows as ``[start, end]`` timestamps that must be timestamps of the series.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from skybridge.apps.anomaly.nab.sweep import CostMatrix, Window
from skybridge.apps.anomaly.points import check_value
from skybridge.core.errors import ValidationError, shown

#: NAB's three profiles (``config/profiles.json``), by the keys our reports use.
PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_fp": CostMatrix(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_fn": CostMatrix(tp=1.0, fp=0.11, fn=2.0),
}
#: NAB's own names of the profiles (``reward_low_FP_rate``...).
NAB_PROFILE_NAMES = {
    "standard": "standard",
    "reward_low_fp": "reward_low_FP_rate",
    "reward_low_fn": "reward_low_FN_rate",
}


@dataclass(frozen=True)
class LabelledSeries:
    """One series of the corpus with its labelled anomaly windows."""

    path: str  # "realTweets/Twitter_volume_AAPL.csv"
    timestamps: list[datetime]
    values: list[float]
    windows: list[Window]

    @property
    def category(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1].removesuffix(".csv")


def parse_time(text: str) -> datetime:
    """A NAB timestamp (``2014-04-10 07:15:00`` or with ``.000000``)."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"bad timestamp {shown(text)}", hint="use YYYY-MM-DD HH:MM:SS"
        ) from None


def read_series(path: Path) -> tuple[list[datetime], list[float]]:
    """The ``timestamp,value`` rows of one CSV file.

    Raises:
        ValidationError: no ``timestamp,value`` header, a bad timestamp, or a value that is not
            a finite number within +-1e150 (naming the file and line).
    """
    timestamps: list[datetime] = []
    values: list[float] = []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise ValidationError(f"{path}: the first line must be 'timestamp,value'")
        for number, row in enumerate(rows, start=2):
            try:
                value = check_value(float(row[1]), "value")
                timestamps.append(parse_time(row[0]))
            except (IndexError, ValueError):
                raise ValidationError(f"{path}:{number}: no number in the value column") from None
            except ValidationError as exc:
                raise ValidationError(f"{path}:{number}: {exc.message}", hint=exc.hint) from None
            values.append(value)
    return timestamps, values


def read_windows(labels: Path) -> dict[str, list[Window]]:
    """``combined_windows.json``: anomaly windows by series path."""
    try:
        raw = json.loads(labels.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"cannot read labels {labels}: {exc}") from None
    if not isinstance(raw, dict):
        raise ValidationError(f"{labels}: expected an object of series paths")
    return {
        path: [(parse_time(start), parse_time(end)) for start, end in spans]
        for path, spans in raw.items()
    }


def load_corpus(root: Path, *, only: set[str] | None = None) -> list[LabelledSeries]:
    """Every series under ``root/data/`` (``only``: just these paths) with its windows.

    Raises:
        ValidationError: no data folder or labels, a series without labels, or a window
            boundary that is not a timestamp of its series.
    """
    data, labels = root / "data", root / "labels" / "combined_windows.json"
    if not data.is_dir() or not labels.is_file():
        raise ValidationError(
            f"{root} is not a NAB folder",
            hint="give the folder holding data/<category>/*.csv and labels/combined_windows.json",
        )
    windows = read_windows(labels)
    corpus = []
    for csv_path in sorted(data.glob("*/*.csv")):
        path = csv_path.relative_to(data).as_posix()
        if only is not None and path not in only:
            continue
        if path not in windows:
            raise ValidationError(f"{path} has no entry in {labels}")
        timestamps, values = read_series(csv_path)
        _check_windows(path, timestamps, windows[path])
        corpus.append(LabelledSeries(path, timestamps, values, windows[path]))
    if not corpus:
        raise ValidationError(f"no series found under {data}/<category>/*.csv")
    return corpus


def _check_windows(path: str, timestamps: list[datetime], windows: list[Window]) -> None:
    known = set(timestamps)
    for start, end in windows:
        if start not in known or end not in known or end < start:
            raise ValidationError(f"{path}: window {start} .. {end} is not on its timestamps")
