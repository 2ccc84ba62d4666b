"""Window counts, sums and distinct counts equal a brute-force recount over the same events,
whatever order they arrive in; last values never go back in event time; TTLs are enforced."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybridge.apps.features.definitions import (
    FeatureView,
    count,
    last,
    last_time,
    make_view,
    parse_views,
    ratio,
    windowed,
)
from skybridge.apps.features.entity import ParsedEvent, fold
from skybridge.apps.features.vector import evaluate
from skybridge.apps.features.windows import window_start
from skybridge.core.errors import ValidationError

VIEW = make_view(
    name="v",
    entity="user",
    topic="events",
    features=[
        count("count5m", window="5m"),
        count("clicks1h", window="1h", where={"kind": "click"}),
        windowed("sum10m", "sum", "amount", window="10m", resolution="30s"),
        windowed("max1h", "max", "amount", window="1h"),
        windowed("kinds1h", "distinct", "kind", window="1h"),
        windowed("mean5m", "mean", "amount", window="5m"),
        last("lastKind", "kind"),
        last_time("lastSeen"),
        ratio("clickShare", "clicks1h", "count5m"),
    ],
)

events_strategy = st.lists(
    st.tuples(
        st.integers(0, 7200),  # event time, whole seconds
        st.sampled_from(["click", "view", "buy"]),
        st.integers(0, 50),
    ),
    min_size=1,
    max_size=60,
)


def brute(view: FeatureView, events: list[ParsedEvent], at: float) -> dict[str, Any]:
    """The definitions applied directly to the events with event time at or before ``at``."""
    seen = [e for e in events if e.time <= at]
    found: dict[str, Any] = {}
    for f in view.features:
        if f.windowed:
            start = window_start(f, at)
            chosen = [e for e in seen if start <= e.time <= at and f.matches(e.inputs)]
            found[f.name] = recount(f.agg, [e.inputs.get(f.field) for e in chosen])
    newest = max(seen, key=lambda e: (e.time, e.order))
    found["lastKind"] = newest.inputs["kind"]
    found["lastSeen"] = newest.time
    found["clickShare"] = found["clicks1h"] / found["count5m"] if found["count5m"] else None
    return found


def recount(agg: str, values: list[Any]) -> Any:
    if agg == "count":
        return len(values)
    if agg == "distinct":
        return len(set(values))
    if agg == "sum":
        return float(sum(values))
    if not values:
        return None
    return max(values) if agg == "max" else sum(values) / len(values)


def fold_all(view: FeatureView, events: list[ParsedEvent]) -> dict[str, Any] | None:
    doc = None
    for event in events:
        doc = fold(view, doc, event)
    return doc


def as_events(raw: list[tuple[int, str, int]]) -> list[ParsedEvent]:
    return [
        ParsedEvent("u1", float(t), order, {"kind": kind, "amount": amount})
        for order, (t, kind, amount) in enumerate(raw)
    ]


def same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)
    return bool(left == right)


@settings(max_examples=300, deadline=None)
@given(raw=events_strategy, seed=st.integers(0, 2**32 - 1), extra=st.integers(0, 4000))
def test_windows_equal_a_recount_for_any_arrival_order(raw, seed, extra) -> None:
    events = as_events(raw)
    shuffled = events[:]
    random.Random(seed).shuffle(shuffled)
    doc = fold_all(VIEW, shuffled)
    at = max(e.time for e in events) + extra
    got = evaluate(VIEW, "u1", doc, at).plain()
    want = brute(VIEW, events, at)
    for name, value in want.items():
        assert same(got[name], value), (name, got[name], value)


@settings(max_examples=100, deadline=None)
@given(raw=events_strategy, seed=st.integers(0, 2**32 - 1))
def test_arrival_order_does_not_change_the_document_reads(raw, seed) -> None:
    events = as_events(raw)
    shuffled = events[:]
    random.Random(seed).shuffle(shuffled)
    at = max(e.time for e in events)
    left = evaluate(VIEW, "u1", fold_all(VIEW, events), at).plain()
    right = evaluate(VIEW, "u1", fold_all(VIEW, shuffled), at).plain()
    assert all(same(left[k], right[k]) for k in left)


def test_the_original_count_is_wrong_and_ours_is_not() -> None:
    # The article's Lambda: count += 1 if the event is < 5 min after the previous, else 1.
    times = [0, 200, 400, 600, 800, 100]  # one every 200 s, then one arriving late
    original, previous = 0, None
    for t in times:
        original = original + 1 if previous is not None and t - previous < 300 else 1
        previous = t
    ours = fold_all(VIEW, as_events([(t, "view", 1) for t in times]))
    at = 800.0
    assert evaluate(VIEW, "u1", ours, at).values["count5m"].value == 2  # 600 and 800 in (500, 800]
    assert original == 6  # every event since the last 5-minute gap, the late one included


def test_an_older_event_never_overwrites_a_newer_value() -> None:
    newer = ParsedEvent("u1", 100.0, 5, {"kind": "buy", "amount": 1})
    older = ParsedEvent("u1", 50.0, 9, {"kind": "view", "amount": 1})
    doc = fold(VIEW, fold(VIEW, None, newer), older)
    values = evaluate(VIEW, "u1", doc, 100.0).values
    assert values["lastKind"].value == "buy"
    assert values["lastSeen"].value == 100.0
    tie = ParsedEvent("u1", 100.0, 7, {"kind": "click", "amount": 1})
    assert evaluate(VIEW, "u1", fold(VIEW, doc, tie), 100.0).values["lastKind"].value == "click"


def test_fold_leaves_the_given_document_alone() -> None:
    doc = fold(VIEW, None, ParsedEvent("u1", 10.0, 1, {"kind": "buy", "amount": 3}))
    before = repr(doc)
    fold(VIEW, doc, ParsedEvent("u1", 20.0, 2, {"kind": "view", "amount": 4}))
    assert repr(doc) == before


def test_ttl_makes_a_stale_value_missing_with_the_reason() -> None:
    view = make_view(
        name="t",
        entity="user",
        topic="e",
        ttl="1h",
        features=[last("kind", "kind", ttl="10m"), count("n", window="1d"), last_time("seen")],
    )
    doc = fold(view, None, ParsedEvent("u1", 1000.0, 1, {"kind": "view"}))
    fresh = evaluate(view, "u1", doc, 1000.0 + 600).values
    assert fresh["kind"].value == "view"
    stale = evaluate(view, "u1", doc, 1000.0 + 601).values
    assert stale["kind"].value is None
    assert stale["kind"].missing.startswith("stale: updated 10 min ago, ttl 10m")
    assert stale["n"].value == 1  # the view's ttl (1h) applies to the others
    later = evaluate(view, "u1", doc, 1000.0 + 3601).values
    assert later["n"].missing is not None
    assert later["seen"].missing is not None


def test_unknown_entities_and_empty_windows_say_why() -> None:
    unknown = evaluate(VIEW, "x", None, 0.0)
    assert not unknown.found
    assert all(v.missing.startswith("unknown entity") for v in unknown.values.values())
    doc = fold(VIEW, None, ParsedEvent("u1", 0.0, 1, {"kind": "view", "amount": 2}))
    later = evaluate(VIEW, "u1", doc, 7200.0).values
    assert later["count5m"].value == 0
    assert later["max1h"].missing == "no event in the last 1h"
    assert later["clickShare"].missing == "count5m is 0"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": "7m", "resolution": "2m"}, "must divide"),
        ({"window": "soon"}, "not a duration"),
        ({}, "needs window="),
    ],
)
def test_bad_definitions_say_what_to_fix(options: dict[str, Any], message: str) -> None:
    from skybridge.core.errors import ValidationError

    with pytest.raises(ValidationError, match=message):
        count("c", **options) if options else windowed("c", "sum", "x", window=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("data", "found"), [(None, "nothing"), ([1], "a list"), ("x", "a str")])
def test_a_file_that_is_no_mapping_says_what_it_holds(data: object, found: str) -> None:
    with pytest.raises(ValidationError, match=f"views.yaml: holds {found}, not a mapping"):
        parse_views(data, "views.yaml")
