"""The functions contract: layer versions, functions, aliases, metrics and alarms of a
serverless platform (AWS Lambda with CloudWatch; the embedded platform for laptops and tests).

An implementation writes the primitives (publish, list and delete layer versions, grants,
functions and their published versions, aliases, metric data, alarm state) and translates its
SDK's errors at its boundary (unknown layer, function or alias -> ``NotFound``; a grant whose
statement id exists -> ``Conflict``; a request the platform refuses -> ``ValidationError``).
The base derives what callers ask most: which layer versions are still referenced, by which
function version.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from skybridge.core.backend import Backend

__all__ = [
    "Alias",
    "FunctionConfig",
    "FunctionPlatform",
    "Grant",
    "LayerVersion",
    "Metric",
    "parse_layer_arn",
]

AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
#: Layer names the platforms accept: letters, digits, dashes and underscores (AWS: 1-140).
LAYER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,140}$")
_LAYER_ARN = re.compile(r"^(?P<base>.+:layer:(?P<name>[A-Za-z0-9_-]+)):(?P<version>\d+)$")


def parse_layer_arn(arn: str) -> tuple[str, str, int]:
    """``(layer ARN without version, layer name, version)`` of a layer version ARN.

    Raises:
        ValueError: ``arn`` does not end in ``:layer:<name>:<version>``.
    """
    match = _LAYER_ARN.match(arn)
    if match is None:
        raise ValueError(f"{arn!r} is not a layer version ARN (…:layer:NAME:VERSION)")
    return match["base"], match["name"], int(match["version"])


@dataclass(frozen=True)
class LayerVersion:
    """One published version of a layer."""

    name: str
    version: int
    arn: str
    created: str
    description: str = ""
    runtimes: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    code_size: int = 0
    code_sha256: str = ""
    license: str | None = None


@dataclass(frozen=True)
class FunctionConfig:
    """One version of a function (``$LATEST`` or a published number) and its layers."""

    name: str
    version: str
    arn: str
    runtime: str | None
    architectures: tuple[str, ...]
    layers: tuple[str, ...]


@dataclass(frozen=True)
class Alias:
    """A function alias: ``version`` gets the traffic ``weights`` leave over."""

    function: str
    name: str
    version: str
    weights: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Grant:
    """Who may use a layer version: an account id, ``*`` (everyone) or ``*`` within an
    organisation (``organization_id``)."""

    statement_id: str
    principal: str
    organization_id: str | None = None


@dataclass(frozen=True)
class Metric:
    """One metric data point."""

    name: str
    value: float
    unit: str = "None"
    dimensions: Mapping[str, str] = field(default_factory=dict)


class FunctionPlatform(Backend):
    """Layers, functions, aliases, metrics and alarms of one account and region."""

    # -- layers ------------------------------------------------------------------------------

    @abstractmethod
    def publish_layer_version(
        self,
        name: str,
        content: bytes,
        *,
        description: str = "",
        runtimes: Sequence[str] = (),
        architectures: Sequence[str] = (),
        license: str | None = None,
    ) -> LayerVersion:
        """Publish ``content`` (a zip) as the next version of layer ``name``."""

    @abstractmethod
    def list_layers(self) -> list[str]:
        """Names of the layers that have at least one version."""

    @abstractmethod
    def list_layer_versions(self, name: str) -> list[LayerVersion]:
        """Every version of layer ``name``, newest first (empty: no such layer)."""

    @abstractmethod
    def delete_layer_version(self, name: str, version: int) -> None:
        """Delete one version (``NotFound`` if it does not exist)."""

    @abstractmethod
    def add_layer_grant(self, name: str, version: int, grant: Grant) -> None:
        """Let ``grant.principal`` use one layer version (``Conflict``: the id exists)."""

    @abstractmethod
    def layer_grants(self, name: str, version: int) -> list[Grant]:
        """The grants of one layer version."""

    # -- functions ---------------------------------------------------------------------------

    @abstractmethod
    def create_function(
        self,
        name: str,
        *,
        runtime: str,
        code: bytes,
        handler: str = "app.handler",
        architectures: Sequence[str] = ("x86_64",),
        layers: Sequence[str] = (),
        role: str | None = None,
    ) -> FunctionConfig:
        """Create a function (its ``$LATEST`` version)."""

    @abstractmethod
    def list_functions(self) -> list[str]:
        """Names of every function."""

    @abstractmethod
    def function_versions(self, function: str) -> list[FunctionConfig]:
        """``$LATEST`` and every published version of ``function``."""

    @abstractmethod
    def set_function_layers(self, function: str, layers: Sequence[str]) -> FunctionConfig:
        """Replace the layers of the function's ``$LATEST``."""

    @abstractmethod
    def publish_function_version(self, function: str, description: str = "") -> FunctionConfig:
        """Freeze ``$LATEST`` as a new numbered version."""

    @abstractmethod
    def get_alias(self, function: str, name: str) -> Alias:
        """An alias of ``function`` (``NotFound`` if absent)."""

    @abstractmethod
    def put_alias(self, alias: Alias) -> Alias:
        """Create the alias or point it (and its weights) elsewhere."""

    # -- metrics and alarms ------------------------------------------------------------------

    @abstractmethod
    def put_metrics(self, namespace: str, metrics: Sequence[Metric]) -> None:
        """Record metric data points."""

    @abstractmethod
    def alarm_state(self, alarm: str) -> AlarmState:
        """The state of an alarm (``NotFound`` if there is none of that name)."""

    @abstractmethod
    def set_alarm_state(self, alarm: str, state: AlarmState, reason: str) -> None:
        """Force an alarm's state (tests, drills); the platform may re-evaluate it later."""

    # -- derived -----------------------------------------------------------------------------

    def function(self, function: str) -> FunctionConfig:
        """The ``$LATEST`` configuration of ``function``."""
        return self.function_versions(function)[0]

    def layer_references(self) -> dict[str, list[FunctionConfig]]:
        """Layer version ARN -> every function version (``$LATEST`` or published) using it.

        Published versions count: an alias may route to them, and a deleted layer version can
        no longer be attached when such a version is redeployed.
        """
        found: dict[str, list[FunctionConfig]] = {}
        for name in self.list_functions():
            for config in self.function_versions(name):
                for arn in config.layers:
                    found.setdefault(arn, []).append(config)
        return found
