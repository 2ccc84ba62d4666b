"""How many users have a profile, kept as a counter instead of counting profile keys.

The event pipeline counts a user once, in the same flush as the profile that marks the user
counted (``profile["counted"]`` holds the collection counted in): the counter is a kv sink
document (``recommend/<collection>/users``) guarded like the day metrics, so a redelivered
event never counts a user twice, and on stores with atomic batches the mark and the count are
written in one transaction.

Profiles written before the counter existed (or counted for another collection) are counted on
their user's next event. Until then the retraining job, which reads every profile anyway, stores
how many carry no mark (``recommend/<collection>/users_uncounted``) and ``status`` adds it: an
approximation only for those profiles, refreshed by every retraining (a user among them whose
next event comes before the next retraining is counted twice until then).
"""

from __future__ import annotations

import time
from typing import Any

from skybridge.apps.recommend.service import Recommender

#: The pipeline's counter document (a kv sink key under ``recommend/<collection>/``).
USERS = "users"
#: Profiles the last retraining found without a mark (plain JSON, same prefix).
UNCOUNTED = "users_uncounted"
COUNTED = "counted"


def is_counted(profile: Any, collection: str) -> bool:
    return isinstance(profile, dict) and profile.get(COUNTED) == collection


def marked(profile: dict[str, Any], collection: str) -> dict[str, Any]:
    """A copy of ``profile`` marked as counted in ``collection``'s user counter."""
    return {**profile, COUNTED: collection}


def count_user(doc: Any) -> dict[str, Any]:
    """The counter document ``doc`` (or ``None``) with one more user."""
    found = doc.get("count", 0) if isinstance(doc, dict) else 0
    return {"count": int(found) + 1}


def record_uncounted(engine: Recommender, uncounted: int) -> None:
    """Store how many profiles carry no mark for the current collection (retraining)."""
    key = f"recommend/{engine.config.collection}/{UNCOUNTED}"
    engine.kv.put_json(key, {"count": uncounted, "at": time.time()})


def user_count(engine: Recommender) -> int:
    """Users with a profile: the pipeline's counter plus the unmarked profiles the last
    retraining found (two kv reads, whatever the number of users)."""
    counted = engine.metrics.get(USERS)
    base = engine.kv.get_json(f"recommend/{engine.config.collection}/{UNCOUNTED}")
    total = counted.get("count", 0) if isinstance(counted, dict) else 0
    if isinstance(base, dict):
        total += int(base.get("count", 0))
    return int(total)
