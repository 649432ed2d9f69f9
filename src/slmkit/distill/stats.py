"""The few statistics the lifecycle decides on: Wilson score bounds and percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence


def wilson(successes: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """(lower, upper) Wilson score bounds of a proportion; (0, 1) with no observations.

    Counts may be fractional: a rate read at a smaller count (see ``students.pick_threshold``).
    Why Wilson and not the normal approximation: it stays inside [0, 1] and is honest at the
    proportions near 1 and the small counts that promotion decisions are taken on.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
