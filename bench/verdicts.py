"""Pure. Goal arithmetic that a missing figure cannot pass.

A figure that could not be measured is NaN. Python's `max(0.3, nan)` is 0.3 and `nan <= 0.4` is
False, so a NaN can both vanish from a worst case and print as a pass depending on the order of
arguments. Here a NaN anywhere makes the worst case NaN, and a NaN never meets a goal.
"""

import math
from collections.abc import Iterable


def worst(values: Iterable[float]) -> float:
    """The largest value; NaN if any value is NaN or there is none."""
    found = list(values)
    if not found or any(math.isnan(v) for v in found):
        return math.nan
    return max(found)


def least(values: Iterable[float]) -> float:
    """The smallest value; NaN if any value is NaN or there is none."""
    found = list(values)
    if not found or any(math.isnan(v) for v in found):
        return math.nan
    return min(found)


def at_most(value: float, goal: float) -> bool:
    """`value <= goal`, False for NaN (written out so that no reader wonders)."""
    return not math.isnan(value) and value <= goal


def below(value: float, goal: float) -> bool:
    """`value < goal`, False for NaN."""
    return not math.isnan(value) and value < goal


def at_least(value: float, goal: float) -> bool:
    """`value >= goal`, False for NaN."""
    return not math.isnan(value) and value >= goal
