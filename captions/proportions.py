"""Proportions and how sure we are of them: the quality figures of a dataset (the
share of captions a second reviewer confirmed, gold accuracy, approve rates) are
shares of small samples, and a share without its interval says too much.

Pure Python; no Django (docs/architecture.md).
"""

import math
from typing import NamedTuple

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


class Interval(NamedTuple):
    low: float
    high: float


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> Interval:
    """The Wilson score interval of `successes` / `trials` (95% by default).

    Unlike the normal approximation it stays within [0, 1] and is honest for small
    samples and shares near 0 or 1 (Newcombe 1998: 81/263 gives 0.2553–0.3662,
    0/20 gives 0–0.1611). `ValueError` for counts that are not a proportion.
    """
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"{successes} of {trials} is not a proportion")
    share = successes / trials
    spread = z * z / trials
    centre = (share + spread / 2) / (1 + spread)
    half = (
        z / (1 + spread) * math.sqrt(share * (1 - share) / trials + spread / trials / 4)
    )
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def difference_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, z: float = Z_95
) -> Interval:
    """The interval of share B minus share A: Newcombe's hybrid score interval
    (1998, method 10), built from the two Wilson intervals; 56/70 against 48/80
    gives -0.3339 to -0.0524 for B - A."""
    share_a, share_b = successes_a / trials_a, successes_b / trials_b
    low_a, high_a = wilson_interval(successes_a, trials_a, z)
    low_b, high_b = wilson_interval(successes_b, trials_b, z)
    difference = share_b - share_a
    return Interval(
        difference - math.sqrt((share_b - low_b) ** 2 + (high_a - share_a) ** 2),
        difference + math.sqrt((high_b - share_b) ** 2 + (share_a - low_a) ** 2),
    )
