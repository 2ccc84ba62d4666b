"""Online anomaly detectors, by name (``[anomaly] detector``, ``--detector``).

========================  ===================================================================
``combined`` (default)    level + seasonal robust z, each excursion flagged once
``robust-z``              rolling median/MAD robust z
``seasonal``              the value against the same time a day (or week) earlier
``global-z``              the original design's ``|z|`` over all history (reference)
``windowed-gaussian``     NAB's windowed Gaussian (reference)
``river-hst``             River's Half-Space Trees (needs ``skybridge[anomaly]``)
========================  ===================================================================
"""

from __future__ import annotations

import importlib
from typing import Any

from skybridge.apps.anomaly.detectors.base import Detector
from skybridge.core.errors import ValidationError

DEFAULT = "combined"
#: Detector classes by name, imported when used.
DETECTORS = {
    "combined": "skybridge.apps.anomaly.detectors.combined:Combined",
    "robust-z": "skybridge.apps.anomaly.detectors.robust:RobustZ",
    "seasonal": "skybridge.apps.anomaly.detectors.seasonal:SeasonalBaseline",
    "global-z": "skybridge.apps.anomaly.detectors.gaussian:GlobalZScore",
    "windowed-gaussian": "skybridge.apps.anomaly.detectors.gaussian:WindowedGaussian",
    "river-hst": "skybridge.apps.anomaly.detectors.river_hst:RiverHalfSpaceTrees",
}


def detector_class(name: str) -> type[Detector]:
    """The class of detector ``name``."""
    if name not in DETECTORS:
        raise ValidationError(
            f"no detector called {name!r}", hint=f"use one of {', '.join(DETECTORS)}"
        )
    module, _, attribute = DETECTORS[name].partition(":")
    found: Any = getattr(importlib.import_module(module), attribute)
    return found  # type: ignore[no-any-return]


def new_detector(name: str, state: dict[str, Any] | None = None) -> Detector:
    """Detector ``name``, fresh or continuing from its JSON ``state``."""
    return detector_class(name).from_state(state or {})


def keeps_json_state(name: str) -> bool:
    """Whether detector ``name`` can live in pipeline state (all but River's)."""
    return bool(getattr(detector_class(name), "json_state", True))
