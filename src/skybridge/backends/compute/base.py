"""The compute contract: the instances of one account or compartment, and what cost policies do
to them (stop, start, tag, resize, terminate).

An implementation writes the ``_``-prefixed primitives and translates its SDK's errors into
:mod:`skybridge.core.errors`; the base derives the rest (filters, tag merges, state checks).
Optional features are capabilities: ``resize``, ``terminate``, ``utilisation`` (average CPU
over a window) and ``launch`` (create instances: the embedded fleet and tests).

State changes may be asynchronous: EC2 and OCI answer a stop with ``stopping`` and reach
``stopped`` later. :meth:`ComputeFleet.wait_for` waits for a state, within a bound.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from skybridge.core.backend import Backend
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import Conflict, NotFound, TransientError, ValidationError

State = Literal["pending", "running", "stopping", "stopped", "terminated", "other"]
#: Tag keys and values are short strings on every provider (AWS 128/256, OCI 100/256).
MAX_TAG_KEY, MAX_TAG_VALUE = 100, 256


@dataclass(frozen=True)
class Instance:
    """One virtual machine as a cost policy sees it."""

    id: str
    name: str
    state: State
    size: str
    tags: Mapping[str, str] = field(default_factory=dict)
    region: str = ""
    provider: str = ""
    launched_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "size": self.size,
            "tags": dict(self.tags),
            "region": self.region,
            "provider": self.provider,
            "launched_at": self.launched_at.isoformat() if self.launched_at else None,
        }


def check_tags(tags: Mapping[str, str]) -> None:
    """Refuse empty, over-long or non-text tag keys and values (``ValidationError``)."""
    for key, value in tags.items():
        if not isinstance(key, str) or not key or len(key) > MAX_TAG_KEY:
            raise ValidationError(f"tag key {key!r} must be 1-{MAX_TAG_KEY} characters")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            raise ValidationError(f"tag {key!r} value must be text of at most {MAX_TAG_VALUE}")


class ComputeFleet(Backend):
    """The instances of one account/region or compartment."""

    provider: str = ""

    # -- primitives ------------------------------------------------------------------------
    @abstractmethod
    def _list(self) -> Iterator[Instance]:
        """Every instance that is not terminated long ago (all pages)."""

    @abstractmethod
    def _get(self, instance_id: str) -> Instance:
        """One instance; ``NotFound`` when there is none."""

    @abstractmethod
    def _stop(self, instance_id: str) -> None:
        """Ask the provider to stop a running instance."""

    @abstractmethod
    def _start(self, instance_id: str) -> None:
        """Ask the provider to start a stopped instance."""

    @abstractmethod
    def _set_tags(self, instance_id: str, tags: Mapping[str, str]) -> None:
        """Write these tags on the instance, keeping its other tags."""

    def _resize(self, instance_id: str, size: str) -> None:
        raise NotImplementedError  # only called when "resize" is a capability

    def _terminate(self, instance_id: str) -> None:
        raise NotImplementedError  # only called when "terminate" is a capability

    def _utilisation(self, instance_id: str, since: datetime) -> float | None:
        raise NotImplementedError  # only called when "utilisation" is a capability

    def _launch(
        self, name: str, size: str, tags: Mapping[str, str], utilisation: float | None
    ) -> Instance:
        raise NotImplementedError  # only called when "launch" is a capability

    # -- derived ---------------------------------------------------------------------------
    def instances(
        self, *, states: set[str] | None = None, tags: Mapping[str, str] | None = None
    ) -> list[Instance]:
        """Instances in ``states`` (all when ``None``) carrying every tag in ``tags``."""
        found = []
        for instance in self._list():
            if states is not None and instance.state not in states:
                continue
            if tags and any(instance.tags.get(k) != v for k, v in tags.items()):
                continue
            found.append(instance)
        return sorted(found, key=lambda i: (i.name, i.id))

    def get(self, instance_id: str) -> Instance:
        return self._get(instance_id)

    def stop(self, instance_id: str) -> Instance:
        """Stop a running instance; a stopped one is left alone. Returns it as it is now, which
        on some providers is still ``stopping`` (see :meth:`wait_for`)."""
        instance = self._get(instance_id)
        if instance.state in {"stopped", "stopping"}:
            return instance
        if instance.state != "running":
            raise Conflict(f"instance {instance_id} is {instance.state}; only running ones stop")
        self._stop(instance_id)
        return self._get(instance_id)

    def start(self, instance_id: str) -> Instance:
        instance = self._get(instance_id)
        if instance.state in {"running", "pending"}:
            return instance
        if instance.state != "stopped":
            raise Conflict(f"instance {instance_id} is {instance.state}; only stopped ones start")
        self._start(instance_id)
        return self._get(instance_id)

    def tag(self, instance_id: str, tags: Mapping[str, str]) -> Instance:
        """Add or overwrite ``tags``; other tags stay."""
        check_tags(tags)
        self._get(instance_id)
        self._set_tags(instance_id, dict(tags))
        return self._get(instance_id)

    def resize(self, instance_id: str, size: str) -> Instance:
        """Change the instance's size (type or shape); it must be stopped on most providers."""
        self._require("resize")
        if not size:
            raise ValidationError("a resize needs a target size")
        instance = self._get(instance_id)
        if instance.size == size:
            return instance
        if instance.state != "stopped":
            raise Conflict(
                f"instance {instance_id} must be stopped to resize (it is {instance.state})"
            )
        self._resize(instance_id, size)
        return self._get(instance_id)

    def wait_for(
        self,
        instance_id: str,
        states: Collection[str],
        *,
        timeout: float,
        poll: float = 5.0,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Instance:
        """The instance once it is in one of ``states``, looking every ``poll`` seconds.

        ``clock`` and ``sleep`` are time as this wait sees it (tests move them by hand).

        Raises:
            TransientError: it is in none of ``states`` after ``timeout`` seconds.
            Conflict: it is terminated and ``states`` does not include that.
        """
        wanted = " or ".join(sorted(states))
        deadline = clock.now() + timeout
        while True:
            instance = self._get(instance_id)
            if instance.state in states:
                return instance
            if instance.state == "terminated":
                raise Conflict(f"instance {instance_id} is terminated; it will never be {wanted}")
            left = deadline - clock.now()
            if left <= 0:
                raise TransientError(
                    f"instance {instance_id} is still {instance.state} after {timeout:g} s "
                    f"(waited for {wanted})"
                )
            sleep(min(poll, left))

    def terminate(self, instance_id: str) -> Instance:
        self._require("terminate")
        instance = self._get(instance_id)
        if instance.state == "terminated":
            return instance
        self._terminate(instance_id)
        return self._get(instance_id)

    def utilisation(self, instance_id: str, since: datetime) -> float | None:
        """Average CPU percent since ``since``; ``None`` when the provider has no data."""
        self._require("utilisation")
        return self._utilisation(instance_id, since)

    def launch(
        self,
        name: str,
        size: str,
        tags: Mapping[str, str] | None = None,
        *,
        utilisation: float | None = None,
    ) -> Instance:
        """Create a running instance (embedded fleets: ``utilisation`` is the CPU it reports)."""
        self._require("launch")
        check_tags(tags or {})
        if not name or not size:
            raise ValidationError("an instance needs a name and a size")
        return self._launch(name, size, dict(tags or {}), utilisation)

    def _require(self, capability: str) -> None:
        if not self.supports(capability):
            raise ValidationError(
                f"{type(self).__name__} cannot {capability}",
                hint=f"capabilities here: {', '.join(sorted(self.capabilities)) or 'none'}",
            )

    def describe(self) -> str:
        return f"{self.provider or 'compute'} fleet"


def missing(kind: str, instance_id: str) -> NotFound:
    return NotFound(f"no {kind} instance {instance_id!r}")
