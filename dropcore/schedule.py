"""Drop-rate schedules: pure functions of the step, nothing advances on its own."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ._validate import check_positive_int, check_probability

__all__ = ["LinearSchedule", "depth_rates", "drop_probability", "keep_probability"]


def drop_probability(keep_prob: float) -> float:
    """``p = 1 - keep_prob``, the drop probability dropcore's functions take.

    Rounded to 12 decimals: ``1 - 0.9`` is ``0.09999999999999998``, so equal keep_prob
    values would otherwise give settings, cache keys and labels that differ from
    ``p=0.1`` written by hand.

    Raises:
        ValueError: ``keep_prob`` is not a number in [0, 1].
    """
    return round(1.0 - check_probability(keep_prob, "keep_prob"), 12)


def keep_probability(p: float) -> float:
    """``keep_prob = 1 - p``, rounded as :func:`drop_probability` rounds.

    Raises:
        ValueError: ``p`` is not a number in [0, 1].
    """
    return round(1.0 - check_probability(p, "p"), 12)


@dataclass(frozen=True, kw_only=True)
class LinearSchedule:
    """keep_prob decreased linearly from ``start_keep`` to ``end_keep`` over ``total_steps``.

    The paper lowers keep_prob linearly over training (1.0 -> 0.9 works better than a fixed
    0.9). The schedule is a pure function of the step you pass: it holds no counter, so it
    cannot drift during evaluation, and it is clamped to ``end_keep`` after the end.

    Example:
        >>> sched = LinearSchedule(start_keep=1.0, end_keep=0.9, total_steps=5e3)
        >>> sched.keep_prob(2500)
        0.95
    """

    start_keep: float = 1.0
    end_keep: float = 0.9
    total_steps: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_keep", check_probability(self.start_keep, "start_keep"))
        object.__setattr__(self, "end_keep", check_probability(self.end_keep, "end_keep"))
        object.__setattr__(self, "total_steps", check_positive_int(self.total_steps, "total_steps"))

    def keep_prob(self, step: float) -> float:
        """keep_prob at ``step`` (>= 0; fractional steps such as epochs are fine)."""
        if (
            isinstance(step, bool)
            or not isinstance(step, numbers.Real)
            or not math.isfinite(float(step))
            or step < 0
        ):
            raise ValueError(f"step must be a finite number >= 0, got {step!r}")
        t = min(float(step) / self.total_steps, 1.0)
        value = self.start_keep + (self.end_keep - self.start_keep) * t
        return round(value, 12)  # keep 0.95 printing as 0.95, not 0.9500000000000001

    def drop_prob(self, step: float) -> float:
        """``1 - keep_prob(step)``, the ``p`` that dropcore's functions take."""
        return drop_probability(self.keep_prob(step))

    __call__ = keep_prob


def depth_rates(p: float, depth: int) -> list[float]:
    """Drop rates rising linearly with depth (stochastic-depth rule): ``p * (i + 1) / depth``.

    Args:
        p: rate of the deepest of ``depth`` sites.
        depth: number of sites.

    Returns:
        ``depth`` rates, the last equal to ``p``.
    """
    p = check_probability(p)
    depth = check_positive_int(depth, "depth")
    return [p * (i + 1) / depth for i in range(depth)]
