"""The record of one rollout in the app's kv store (``layers/rollouts/<function>/<alias>``).

A record is only ever written by compare-and-set on the version read before, so of two
processes changing one rollout the one that read a stale record gets ``Conflict`` and writes
nothing. ``settled`` says whether the platform already matches the record: a change is recorded
unsettled first, made on the platform, then recorded settled.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from skybridge.backends.functions import Alias
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import Conflict, NotFound, ValidationError

PREFIX = "layers/rollouts/"
#: Recorded before ``start`` changes the function; there is no candidate version yet.
STARTING = "starting"
ACTIVE = "rolling"
COMPLETE = "complete"
ROLLED_BACK = "rolled-back"
#: Entries of ``history`` kept (the newest): an unsettled rollout notes every tick, and a record
#: must stay far below DynamoDB's 400 KB item limit.
HISTORY_LIMIT = 50


@dataclass
class Rollout:
    """One rollout's state."""

    function: str
    alias: str
    layer: str
    base: str
    candidate: str
    base_layers: list[str]
    steps: list[float]
    alarm: str | None
    step: int = 0
    status: str = ACTIVE  # starting | rolling | complete | rolled-back
    #: The alias (and, rolled back, ``$LATEST``'s layers) already are as the status says.
    settled: bool = True
    updated_at: float = field(default_factory=time.time)
    history: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.function}/{self.alias}"

    @property
    def weight(self) -> float:
        """Share of the alias's traffic the candidate gets now."""
        if self.status == COMPLETE:
            return 1.0
        return 0.0 if self.status != ACTIVE else self.steps[self.step]

    @property
    def target(self) -> Alias | None:
        """The alias this record asks for (``None`` while starting: not decided yet)."""
        if self.status == ACTIVE:
            return Alias(self.function, self.alias, self.base, {self.candidate: self.weight})
        if self.status == COMPLETE:
            return Alias(self.function, self.alias, self.candidate)
        if self.status == ROLLED_BACK:
            return Alias(self.function, self.alias, self.base)
        return None

    def note(self, text: str) -> None:
        self.updated_at = time.time()
        self.history.append(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {text}")
        del self.history[:-HISTORY_LIMIT]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "weight": self.weight}


def load(store: KeyValueStore, function: str, alias: str) -> Rollout | None:
    found = read(store, function, alias)
    return None if found is None else found[0]


def list_rollouts(store: KeyValueStore) -> list[Rollout]:
    return [_from_dict(store.get_json(item.key)) for item in store.scan_prefix(PREFIX)]


def read(store: KeyValueStore, function: str, alias: str) -> tuple[Rollout, int] | None:
    """The rollout on ``function:alias`` and the version of its record, or ``None``."""
    key = f"{PREFIX}{function}/{alias}"
    item = store.get_item(key)
    if item is None:
        return None
    try:
        return _from_dict(json.loads(item.value)), item.version
    except ValueError:
        raise ValidationError(f"value at key {key!r} is not JSON") from None


def read_existing(store: KeyValueStore, function: str, alias: str) -> tuple[Rollout, int]:
    found = read(store, function, alias)
    if found is None:
        raise NotFound(f"no rollout on {function}:{alias}")
    return found


def write(store: KeyValueStore, rollout: Rollout, expected: int) -> int:
    """Store ``rollout`` if its record is still at version ``expected`` (0: absent).

    Returns:
        The record's new version.

    Raises:
        Conflict: the record changed after it was read.
    """
    raw = json.dumps(rollout.to_dict(), separators=(",", ":"), ensure_ascii=False)
    try:
        return store.compare_and_set(rollout.key, raw.encode("utf-8"), expected)
    except Conflict:
        raise Conflict(
            f"the rollout on {rollout.function}:{rollout.alias} changed after it was read "
            "(another advance, rollback or start)",
            hint="see where it stands: skybridge layers rollout list",
        ) from None


def _from_dict(document: dict[str, Any]) -> Rollout:
    document = {k: v for k, v in document.items() if k != "weight"}
    return Rollout(**document)
