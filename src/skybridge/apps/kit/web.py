"""What an app's dashboard page returns, and the components every page draws the same way.

A page is an HTML fragment or an :class:`AppPage`: a template of the app's own package with a
context. Put a :class:`Chart` or a :class:`Table` in that context and draw it with the kit's
macros, so every page looks alike::

    {% import "kit/components.html" as kit with context %}
    {{ kit.chart(throughput) }}
    {{ kit.table(letters) }}

A :class:`Plot` draws data the page computed itself (a series' values with flagged points, daily
spend with its forecast) with the same look: ``{{ kit.plot(values) }}``.

Charts show the service's metrics history (sampled every few seconds, kept for a few hours) and
refresh themselves while the page is open. A chart names its series by key: ``metric`` for every
series of that metric, ``metric:label`` for one (``records_per_s:secretsync``), and a label
prefix before ``/`` for a group's topics (``lag:secretsync`` is every ``lag:secretsync/<topic>``).
The metrics (:data:`SERIES_METRICS`) are:

========================  =============================================  ===========
``records_per_s``         records a pipeline consumed per second         per pipeline
``batch_p95_ms``          95th percentile time to process one batch      per pipeline
``lag``                   records a group has not committed yet          ``group/topic``
``http_requests_per_s``   HTTP requests the service answered per second  —
``http_p50_ms``           median time to answer an HTTP request          —
``http_p95_ms``           95th percentile time to answer one             —
``api_requests_per_s``    requests to an app's ``/api/<name>`` routes    per app
``api_p95_ms``            95th percentile time to answer them            per app
========================  =============================================  ===========
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from skybridge.core.errors import SkybridgeError

#: Every metric the history keeps, with its unit.
SERIES_METRICS: dict[str, str] = {
    "records_per_s": "records/s",
    "batch_p95_ms": "ms",
    "lag": "records",
    "http_requests_per_s": "requests/s",
    "http_p50_ms": "ms",
    "http_p95_ms": "ms",
    "api_requests_per_s": "requests/s",
    "api_p95_ms": "ms",
}
#: How much history a chart shows unless told (seconds).
DEFAULT_WINDOW = 15 * 60


#: The form field the dashboard sets, on every page action, to the name of the token the
#: session was opened with (whatever the browser sent under it is replaced): who did it, for
#: the app's audit.
ACTOR_FIELD = "skybridge_actor"


def page_actor(form: Mapping[str, str]) -> str | None:
    """Who sent a page action, for an audit: ``NAME (dashboard)`` (see :data:`ACTOR_FIELD`),
    ``None`` for a form without one."""
    who = form.get(ACTOR_FIELD)
    return f"{who} (dashboard)" if who else None


@dataclass(frozen=True)
class Confirmation:
    """What an app's ``page_confirm`` asks before a form runs: the ``question``, and
    ``fields`` the confirmed form carries back (``plan``: a digest of what was asked about,
    so the action can refuse to do more than the user agreed to)."""

    question: str
    fields: Mapping[str, str] = field(default_factory=dict)


def plan_digest(items: Iterable[object]) -> str:
    """A short digest of the things a confirmation names (sorted, so order does not count):
    the same things give the same digest."""
    text = "\n".join(sorted(str(item) for item in items))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: The form field a :class:`Confirmation`'s digest travels in.
PLAN_FIELD = "plan"


@dataclass(frozen=True)
class AppPage:
    """A dashboard page rendered from a template shipped in the app's package.

    ``template`` is a file name under ``<package>/templates/``; the rendered HTML is placed
    inside the dashboard layout. Templates are auto-escaped and receive the session's ``csrf``
    token for forms posted to ``/ui/<name>``, ``can(scope)``, and the kit's macros as
    ``kit/components.html``.
    """

    package: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)

    def has_charts(self) -> bool:
        """Whether the context holds a :class:`Chart` (directly or in a list or tuple)."""
        return any(_is_chart(value) for value in self.context.values())


@contextmanager
def page_errors(values: dict[str, Any]) -> Iterator[None]:
    """Fill a page's ``values`` inside this block: a :class:`SkybridgeError` raised there
    becomes the page's ``error`` and ``hint`` (drawn by ``kit.error_alert(error, hint)``)
    instead of an error page. An error already in ``values`` (from the form action that led
    here) is kept: it is what the user did last.
    """
    values.setdefault("error", None)
    values.setdefault("hint", None)
    try:
        yield
    except SkybridgeError as exc:
        if not values["error"]:
            values["error"], values["hint"] = exc.message, exc.hint


def _is_chart(value: Any) -> bool:
    if isinstance(value, Chart | Plot):
        return True
    return isinstance(value, list | tuple) and any(isinstance(v, Chart | Plot) for v in value)


@dataclass(frozen=True)
class Chart:
    """A line chart of series from the service's metrics history, refreshed while shown.

    Args:
        title: The chart's heading.
        series: Series keys or selectors (see the module docs), e.g. ``["lag:secretsync"]``.
        unit: What the y axis counts; by default the unit of the first series' metric.
        window: Seconds of history shown (at most what the service keeps).
        name: A CSS class for tests and styling.
    """

    title: str
    series: Sequence[str]
    unit: str = ""
    window: int = DEFAULT_WINDOW
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "series", tuple(self.series))
        if not self.series:
            raise ValueError("a chart needs at least one series")
        if not self.unit:
            metric = self.series[0].partition(":")[0]
            object.__setattr__(self, "unit", SERIES_METRICS.get(metric, ""))


#: How a :class:`Line` is drawn: a solid line, a dashed one (a forecast), a thin grey one (the
#: bounds of a band), or markers only (flagged points: ``None`` where there is no marker).
LineStyle = Literal["line", "dashed", "bound", "points"]


@dataclass(frozen=True)
class Line:
    """One series of a :class:`Plot`: a value (or ``None``: no value there) per x position.

    ``style``: ``line``; ``dashed``, which continues the line before it in its colour (a
    forecast after the actuals); ``bound``, thin and grey (a band's edge); ``points``, red
    markers only (flagged values).
    """

    label: str
    values: Sequence[float | None]
    style: LineStyle = "line"

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        if self.style not in ("line", "dashed", "bound", "points"):
            raise ValueError(f"a line's style is line, dashed, bound or points, not {self.style!r}")


@dataclass(frozen=True)
class Plot:
    """A chart of data the page computed, drawn like the metrics charts but not refreshed.

    Args:
        title: The chart's heading.
        x: The x positions, ascending: epoch seconds when ``time`` (shown as UTC), else numbers.
        lines: The series, each with one value per x position.
        unit: What the y axis counts.
        time: Whether ``x`` holds epoch seconds.
        name: A CSS class for tests and styling.
        max_points: How many x positions are sent to the browser: a longer plot is thinned
            evenly to that many, first and last included, plus every position where a
            ``points`` line has a marker.

    Raises:
        ValueError: no lines, or a line whose length differs from ``x``.
    """

    title: str
    x: Sequence[float]
    lines: Sequence[Line]
    unit: str = ""
    time: bool = True
    name: str = ""
    max_points: int = 2000

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", tuple(self.x))
        object.__setattr__(self, "lines", tuple(self.lines))
        if not self.lines:
            raise ValueError("a plot needs at least one line")
        for line in self.lines:
            if len(line.values) != len(self.x):
                count = len(line.values)
                raise ValueError(f"line {line.label!r} has {count} values for {len(self.x)} x")

    def payload(self) -> dict[str, Any]:
        """What the browser draws: ``{"x", "time", "unit", "lines": [{label, style, values}]}``."""
        keep = self._kept()
        return {
            "x": [self.x[i] for i in keep],
            "time": self.time,
            "unit": self.unit,
            "lines": [
                {"label": ln.label, "style": ln.style, "values": [ln.values[i] for i in keep]}
                for ln in self.lines
            ],
        }

    def _kept(self) -> list[int]:
        size = len(self.x)
        if size <= self.max_points:
            return list(range(size))
        marked = {
            i
            for line in self.lines
            if line.style == "points"
            for i, value in enumerate(line.values)
            if value is not None
        }
        budget = max(2, self.max_points - len(marked))
        step = (size - 1) / (budget - 1)
        return sorted({round(k * step) for k in range(budget)} | marked)


@dataclass(frozen=True)
class Column:
    """One column of a :class:`Table`: the row key it shows and how.

    ``numeric`` aligns right; ``code`` shows the value in monospace; ``css`` adds classes to the
    cells (``"small"``).
    """

    key: str
    label: str = ""
    numeric: bool = False
    code: bool = False
    css: str = ""

    @property
    def heading(self) -> str:
        return self.label or self.key.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Table:
    """A table of plain values (auto-escaped), with a line shown when it has no rows."""

    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    empty: str = "Nothing to show."
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "rows", tuple(self.rows))

    @classmethod
    def of(cls, rows: Iterable[Mapping[str, Any]], **options: Any) -> Table:
        """A table with one column per key found in ``rows`` (in first-seen order)."""
        rows = list(rows)
        keys = dict.fromkeys(k for row in rows for k in row)
        code = options.pop("code", False)
        return cls([Column(k, k, code=code) for k in keys], rows, **options)


def pipeline_charts(pipeline: str, group: str | None = None) -> list[Chart]:
    """Throughput, batch latency and consumer lag of one pipeline (its group is ``group``,
    by default the pipeline's name)."""
    return [
        Chart("Throughput", [f"records_per_s:{pipeline}"], name="throughput"),
        Chart("Batch latency (p95)", [f"batch_p95_ms:{pipeline}"], name="latency"),
        Chart("Consumer lag", [f"lag:{group or pipeline}"], name="lag"),
    ]


def api_charts(app: str) -> list[Chart]:
    """Requests per second and latency of an app's ``/api/<app>`` routes."""
    return [
        Chart("API requests", [f"api_requests_per_s:{app}"], name="throughput"),
        Chart("API latency (p95)", [f"api_p95_ms:{app}"], name="latency"),
    ]
