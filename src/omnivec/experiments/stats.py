"""Seeds, spreads and claims: the mean ± std of a metric over seeds, and a paired difference between two rows with
its 95 % confidence interval (Student's t over the per-seed differences) and a verdict in words.

A claim "X beats Y" is *reproduced* when the whole interval of ``X - Y`` lies above zero, *not reproduced* when it
lies below zero, and *inconclusive* when it contains zero (or when there is one seed, which gives no interval).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

T_975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]  # fmt: skip
"""The 97.5 % quantile of Student's t for 1..30 degrees of freedom (two-sided 95 % intervals)."""


def t_quantile_975(df: int) -> float:
    """Student's t 97.5 % quantile; beyond 30 degrees of freedom the normal's 1.96 (within 4 %)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return T_975[df - 1] if df <= len(T_975) else 1.96


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value; NaN for both when a value is NaN, e.g. a
    share of a specialist that scored 0)."""
    if any(math.isnan(v) for v in values):
        return math.nan, math.nan
    m = statistics.fmean(values)
    return m, (statistics.stdev(values) if len(values) > 1 else 0.0)


@dataclass(frozen=True)
class Paired:
    """``x - y`` over paired seeds: the mean difference and its 95 % confidence interval."""

    diff: float
    low: float
    high: float
    n: int

    @property
    def verdict(self) -> str:
        if self.n < 2:
            return "inconclusive (one seed)"
        if self.low > 0:
            return "reproduced"
        if self.high < 0:
            return "not reproduced"
        return "inconclusive"

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.diff:+.3f} (one seed)"
        return f"{self.diff:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def paired(x: Sequence[float], y: Sequence[float]) -> Paired:
    """The paired difference ``x - y`` (one value per seed in each, same seeds in the same order)."""
    if len(x) != len(y) or not x:
        raise ValueError(f"paired samples need equal, non-zero lengths, got {len(x)} and {len(y)}")
    d = [a - b for a, b in zip(x, y)]
    m, s = mean_std(d)
    if len(d) < 2:
        return Paired(m, m, m, 1)
    half = t_quantile_975(len(d) - 1) * s / math.sqrt(len(d))
    return Paired(m, m - half, m + half, len(d))
