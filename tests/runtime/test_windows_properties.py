"""Property tests: streaming window results equal a batch computation over the same events."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from skybridge.runtime.windows import (
    LatePolicy,
    Window,
    WindowedAggregation,
    collecting,
    session,
    sliding,
    tumbling,
)

Event = tuple[str, int, int]  # key, event time, event id

KEYS = st.sampled_from(["a", "b", "c"])


@st.composite
def streams(draw: st.DrawFn, *, max_disorder: int) -> list[Event]:
    """Events in arrival order; each is at most ``max_disorder`` behind the max seen before."""
    count = draw(st.integers(0, 40))
    events: list[Event] = []
    high = 0
    for ident in range(count):
        step = draw(st.integers(0, 15))
        back = draw(st.integers(0, max_disorder))
        t = max(0, high + step - back)
        high = max(high, t)
        events.append((draw(KEYS), t, ident))
    return events


def run(op: WindowedAggregation[int, list[int], list[int]], events: list[Event]):
    results, late = [], []
    for key, t, ident in events:
        out = op.process(key, float(t), ident)
        results += out.results
        late += out.late
    out = op.flush()
    return results + out.results, late + out.late


def batch_fixed(spec, events: list[Event], excluded: set[tuple[int, Window]]):
    expected: dict[tuple[str, Window], list[int]] = defaultdict(list)
    for key, t, ident in events:
        for window in spec.assign(float(t)):
            if (ident, window) not in excluded:
                expected[(key, window)].append(ident)
    return {k: sorted(v) for k, v in expected.items()}


def batch_sessions(gap: float, events: list[Event], excluded: set[int]):
    by_key: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for key, t, ident in events:
        if ident not in excluded:
            by_key[key].append((t, ident))
    expected = {}
    for key, items in by_key.items():
        items.sort()
        current = [items[0]]
        for t, ident in items[1:]:
            if t - current[-1][0] <= gap:
                current.append((t, ident))
                continue
            window = Window(current[0][0], current[-1][0] + gap)
            expected[(key, window)] = sorted(i for _, i in current)
            current = [(t, ident)]
        window = Window(current[0][0], current[-1][0] + gap)
        expected[(key, window)] = sorted(i for _, i in current)
    return expected


def as_map(results) -> dict[tuple[str, Window], list[int]]:
    found: dict[tuple[str, Window], list[int]] = {}
    for r in results:
        assert (r.key, r.window) not in found, "a window was emitted twice"
        found[(r.key, r.window)] = sorted(r.value)
    return found


SPECS = st.one_of(
    st.integers(1, 20).map(lambda s: tumbling(s)),
    st.tuples(st.integers(1, 5), st.integers(1, 4)).map(lambda p: sliding(p[0] * p[1], p[1])),
)


@settings(max_examples=150, deadline=None)
@given(
    spec=SPECS,
    events=streams(max_disorder=30),
    lateness=st.integers(0, 10),
    grace=st.integers(0, 10),
)
def test_fixed_windows_match_batch_excluding_late(spec, events, lateness, grace) -> None:
    op = WindowedAggregation(spec, collecting(), grace=grace, lateness=lateness, late_policy="side")
    results, late = run(op, events)
    assert not any(r.update for r in results)
    excluded = {(e.value, e.window) for e in late}
    assert as_map(results) == batch_fixed(spec, events, excluded)
    # A late event really is late: its window closed before it arrived.
    for e in late:
        assert e.window.end + grace <= max(t for _, t, _ in events) - lateness


@settings(max_examples=100, deadline=None)
@given(spec=SPECS, events=streams(max_disorder=10), grace=st.integers(0, 5))
def test_disorder_within_lateness_is_never_late(spec, events, grace) -> None:
    op = WindowedAggregation(spec, collecting(), grace=grace, lateness=10, late_policy="drop")
    results, _ = run(op, events)
    assert op.dropped == 0
    assert as_map(results) == batch_fixed(spec, events, set())


@settings(max_examples=150, deadline=None)
@given(
    gap=st.integers(1, 12),
    events=streams(max_disorder=25),
    lateness=st.integers(0, 8),
    grace=st.integers(0, 8),
)
def test_sessions_match_batch_excluding_late(gap, events, lateness, grace) -> None:
    op = WindowedAggregation(
        session(gap), collecting(), grace=grace, lateness=lateness, late_policy="side"
    )
    results, late = run(op, events)
    excluded = {e.value for e in late}
    found = as_map(results)
    assert found == batch_sessions(gap, events, excluded)
    by_key: dict[str, list[Window]] = defaultdict(list)
    for key, window in found:
        by_key[key].append(window)
    for windows in by_key.values():
        windows.sort()
        for before, after in itertools.pairwise(windows):
            # end = last event + gap, so the events on either side are more than gap apart
            assert after.start - (before.end - gap) > gap


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 50), t=st.floats(-1e6, 1e6, allow_nan=False))
def test_tumbling_windows_partition_time(size, t) -> None:
    windows = tumbling(size).assign(t)
    assert len(windows) == 1
    (w,) = windows
    assert w.start <= t < w.end
    assert math.isclose(w.end - w.start, size)
    # neighbouring instants fall into the same or the adjacent window, never overlap
    assert tumbling(size).assign(w.end) == [Window(w.end, w.end + size)]


@settings(max_examples=200, deadline=None)
@given(
    slide=st.integers(1, 10),
    factor=st.integers(1, 6),
    t=st.integers(-10_000, 10_000),
    frac=st.sampled_from([0.0, 0.25, 0.5, 0.999]),
)
def test_sliding_windows_hold_each_event_size_over_slide_times(slide, factor, t, frac) -> None:
    size = slide * factor
    at = t + frac
    windows = sliding(size, slide).assign(at)
    assert len(windows) == factor
    assert all(w.start <= at < w.end and w.end - w.start == size for w in windows)
    assert all(w.start % slide == 0 for w in windows)
    assert len(set(windows)) == factor


@settings(max_examples=60, deadline=None)
@given(events=streams(max_disorder=30), size=st.integers(2, 10))
def test_update_policy_final_state_equals_batch_over_all_events(events, size) -> None:
    op = WindowedAggregation(
        tumbling(size),
        collecting(),
        lateness=2,
        late_policy=LatePolicy.UPDATE,
        update_retention=1e9,
    )
    results, late = run(op, events)
    assert late == []
    last: dict[tuple[str, Window], list[int]] = {}
    for r in results:
        last[(r.key, r.window)] = sorted(r.value)
    assert last == batch_fixed(tumbling(size), events, set())
    assert op.dropped == 0
