"""A rolling window of values kept sorted: median in O(1), MAD in O(log n)."""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable

#: MAD times this estimates the standard deviation of normal data.
MAD_TO_STD = 1.4826


class RollingWindow:
    """The last ``size`` values, in arrival order and sorted.

    The median is exact at every point; the MAD (the middle distance from the median, found by
    selection over the two sorted halves in O(log n)) is refreshed every ``refresh`` points.
    """

    def __init__(self, size: int, values: Iterable[float] = (), refresh: int = 8) -> None:
        self.size = size
        self.refresh = refresh
        self.values: deque[float] = deque(maxlen=size)
        self.sorted: list[float] = []
        self._mad: float | None = None
        self._since = 0
        for value in values:
            self.add(value)

    def __len__(self) -> int:
        return len(self.values)

    def add(self, value: float) -> None:
        values, ordered = self.values, self.sorted
        if len(values) == self.size:
            del ordered[bisect_left(ordered, values[0])]
        values.append(value)
        insort(ordered, value)
        self._since += 1

    def median(self) -> float:
        ordered, n = self.sorted, len(self.sorted)
        middle = n // 2
        return ordered[middle] if n % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])

    def scale(self) -> float:
        """A robust standard deviation: ``1.4826 * MAD`` (as of at most ``refresh`` points ago)."""
        if self._since >= self.refresh or self._mad is None:
            self._mad = median_distance(self.sorted, self.median()) * MAD_TO_STD
            self._since = 0
        return self._mad


def median_distance(ordered: list[float], centre: float) -> float:
    """The ``n // 2``-th smallest ``|x - centre|`` of a sorted list whose median is ``centre``.

    The distances of the lower half (read backwards) and of the upper half are each sorted, so
    this is the selection of one rank in the union of two sorted sequences: a binary search on
    how many come from the lower half.
    """
    split, need = len(ordered) // 2, len(ordered) // 2 + 1
    lower, upper = split, len(ordered) - split

    def below(i: int) -> float:  # i-th smallest distance of the lower half
        return centre - ordered[split - 1 - i]

    def above(j: int) -> float:
        return ordered[split + j] - centre

    low, high = max(0, need - upper), min(need, lower)
    while low < high:
        taken = (low + high) // 2
        if below(taken) < above(need - taken - 1):
            low = taken + 1
        else:
            high = taken
    rest = need - low
    return max(below(low - 1) if low else -math.inf, above(rest - 1) if rest else -math.inf)


class RecentMaximum:
    """The largest of the last ``size`` numbers (a monotonic queue: O(1) per point)."""

    def __init__(self, size: int, queue: Iterable[list[float]] = (), seen: int = 0) -> None:
        self.size = size
        self.seen = seen
        self.queue: deque[list[float]] = deque(queue)  # [index, value], values decreasing

    def value(self) -> float:
        """The maximum of the last ``size`` numbers (0 when none)."""
        return self.queue[0][1] if self.queue else 0.0

    def add(self, number: float) -> None:
        queue = self.queue
        while queue and queue[-1][1] <= number:
            queue.pop()
        queue.append([float(self.seen), number])
        self.seen += 1
        while queue[0][0] <= self.seen - 1 - self.size:
            queue.popleft()
