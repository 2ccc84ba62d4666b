"""How feature values read on the page and in the terminal: numbers to four significant
digits, event times (``last_time`` features) as UTC times instead of epoch seconds."""

from __future__ import annotations

from typing import Any

from skybridge.apps.features.definitions import FeatureView
from skybridge.core.clock import iso


def time_features(view: FeatureView) -> set[str]:
    """The features of ``view`` whose values are event times."""
    return {f.name for f in view.features if f.agg == "last_time"}


def shown(value: Any, is_time: bool = False) -> str:
    """``value`` as a cell: a dash for none, a float to four significant digits, an event
    time (``is_time``) as ``2026-12-06 17:06:00 UTC``."""
    if is_time and isinstance(value, int | float) and not isinstance(value, bool):
        return str(iso(value)).replace("T", " ").removesuffix("Z") + " UTC"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)
