"""The model-endpoint contract: rows of named numeric features in, one prediction per row out.

An implementation writes one primitive, :meth:`ModelEndpoint._predict`, that sends a batch of
rows (already in the model's column order, ``None`` for a missing value) to the model and
returns one prediction per row, translating the service's errors at its boundary (network,
throttling, 5xx -> ``TransientError``; a refused request -> ``TerminalError``; a model that
does not exist -> ``NotFound``). :class:`ModelEndpoint` derives the rest:

* rows may be mappings (feature name -> value) or sequences already in column order; mappings
  are put in the endpoint's :attr:`~ModelEndpoint.columns` order (from the URL's
  ``features=a,b,c`` or the model's own metadata) and a missing name becomes ``None``;
* values must be finite numbers, ``bool`` or ``None``; anything else is a ``ValidationError``
  naming the row and the feature, raised before any call;
* batches larger than :attr:`~ModelEndpoint.max_batch` are split; a service that answers with
  another number of predictions than rows is a ``TerminalError``;
* every call is counted and timed in the family metrics.

Capabilities: ``batch`` (many rows per call; every backend), ``missing`` (the model accepts
missing values itself: a ``None`` reaches it as NaN or null instead of being refused).
"""

from __future__ import annotations

import math
import numbers
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from skybridge.core.backend import Backend
from skybridge.core.errors import ConfigError, TerminalError, ValidationError
from skybridge.core.observability import BACKEND_CALLS, BACKEND_LATENCY

#: One row as the primitive receives it: numbers in column order, ``None`` when missing.
Row = list[float | None]
#: What callers may pass per row.
Instance = Mapping[str, Any] | Sequence[Any]


def parse_columns(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"a,b,c"`` (or a list) as a tuple of distinct, non-empty column names."""
    if value is None or value == "":
        return None
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else list(value)
    if any(not n for n in names) or len(set(names)) != len(names):
        raise ConfigError(f"model features must be distinct non-empty names, got {value!r}")
    return tuple(names)


def _number(value: Any, row: int, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):  # how pandas and numpy spell "missing"
            return None
        if math.isfinite(number):
            return number
    shown = repr(value) if isinstance(value, numbers.Real) else type(value).__name__
    raise ValidationError(
        f"row {row}: feature {name!r} must be a finite number, true/false or null, got {shown}"
    )


class ModelEndpoint(Backend):
    """Base of every model backend.

    Args:
        columns: The model's input columns, in order (``features=`` on the URL).
        timeout: Seconds a call may take.
        missing: The model takes missing values itself (``missing=true`` on the URL).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"batch"})
    #: URL scheme, for metrics labels.
    scheme: ClassVar[str] = "models"
    #: Most rows per call to the service; larger batches are split.
    max_batch: ClassVar[int] = 1000

    def __init__(
        self,
        *,
        columns: Sequence[str] | None = None,
        timeout: float = 10.0,
        missing: bool = False,
    ) -> None:
        if not (isinstance(timeout, int | float) and timeout > 0):
            raise ConfigError(f"model timeout must be a positive number of seconds: {timeout!r}")
        self._columns = parse_columns(columns) if columns is not None else None
        self.timeout = float(timeout)
        self.accepts_missing = missing

    def supports(self, capability: str) -> bool:
        """Declared capabilities, plus ``missing`` when this endpoint was told it takes them."""
        return super().supports(capability) or (capability == "missing" and self.accepts_missing)

    # -- primitive ---------------------------------------------------------------------------

    @abstractmethod
    def _predict(self, rows: list[Row]) -> list[Any]:
        """One prediction per row (numbers, labels or lists), in the order given."""

    @abstractmethod
    def describe(self) -> str:
        """Where the model is, with credentials masked."""

    # -- derived -----------------------------------------------------------------------------

    @property
    def columns(self) -> tuple[str, ...] | None:
        """The input columns in the model's order, when known (URL or model metadata)."""
        return self._columns

    def predict(self, instances: Sequence[Instance]) -> list[Any]:
        """One prediction per instance.

        Raises:
            ValidationError: a value is not a number, a row has the wrong length, or rows are
                mappings and the endpoint does not know its columns.
            TransientError / TerminalError / NotFound: from the service.
        """
        rows = [self._row(i, instance) for i, instance in enumerate(instances)]
        if not rows:
            return []
        if None in (v for row in rows for v in row) and not self.supports("missing"):
            raise ValidationError(
                f"model {self.describe()} does not accept missing values",
                hint="fill them (features missing_policy = 'default') or serve a model that "
                "handles NaN",
            )
        found: list[Any] = []
        for start in range(0, len(rows), self.max_batch):
            chunk = rows[start : start + self.max_batch]
            found += self._checked(chunk)
        return found

    def predict_one(self, instance: Instance) -> Any:
        """The prediction for one instance."""
        return self.predict([instance])[0]

    def _row(self, index: int, instance: Instance) -> Row:
        columns = self.columns
        if isinstance(instance, Mapping):
            if columns is None:
                raise ValidationError(
                    f"model {self.describe()} does not name its input columns",
                    hint="add features=a,b,c to the model URL or pass rows as lists",
                )
            return [_number(instance.get(name), index, name) for name in columns]
        if isinstance(instance, str | bytes):
            raise ValidationError(f"row {index}: a row is a mapping or a list of numbers")
        values = list(instance)
        if columns is not None and len(values) != len(columns):
            raise ValidationError(
                f"row {index} has {len(values)} values; the model takes {len(columns)} "
                f"({', '.join(columns)})"
            )
        return [_number(v, index, str(i)) for i, v in enumerate(values)]

    def _checked(self, rows: list[Row]) -> list[Any]:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = self._predict(rows)
            outcome = "ok"
        finally:
            labels = ("models", self.scheme, "predict")
            BACKEND_LATENCY.labels(*labels).observe(time.perf_counter() - started)
            BACKEND_CALLS.labels(*labels, outcome).inc()
        if len(result) != len(rows):
            raise TerminalError(
                f"model {self.describe()} answered {len(result)} predictions for {len(rows)} rows"
            )
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"
