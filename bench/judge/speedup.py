"""How much faster one step is than another's, and whether the two can be told apart: the ratio of their ms/step
with a 90% interval from both rows' timed passes (their half-widths combined on the log scale, around the figure);
"indistinguishable" where the interval holds 1."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats as _stats

LEVEL = 0.90  # two-sided


def rate_spread(rates: tuple) -> float | None:
    """The 90% t half-width, on the log scale, of a row's mean examples/s from its timed passes (None: fewer than 2)."""
    if len(rates) < 2:
        return None
    logs = [math.log(v) for v in rates]
    quantile = 1 - (1 - LEVEL) / 2
    return float(_stats.t.ppf(quantile, len(logs) - 1)) * statistics.stdev(logs) / math.sqrt(len(logs))


@dataclass(frozen=True)
class SpeedUp:
    ratio: float
    low: float | None = None  # None: a row has fewer than two passes, no interval
    high: float | None = None

    @property
    def indistinguishable(self) -> bool:
        return self.low is not None and self.low <= 1.0 <= self.high

    def text(self) -> str:
        if self.low is None:
            return f"{self.ratio:.3g}x"
        return (f"{self.ratio:.3g}x [{self.low:.3g}, {self.high:.3g}]"
                + (", indistinguishable" if self.indistinguishable else ""))


def speed_up(reference_ms: float, reference_rates: tuple, row_ms: float, row_rates: tuple) -> SpeedUp:
    """reference ms/step / row ms/step (above 1: the row is faster), with its interval where both rows have one."""
    ratio = reference_ms / row_ms
    mine, theirs = rate_spread(row_rates), rate_spread(reference_rates)
    if mine is None or theirs is None:
        return SpeedUp(ratio)
    half = math.hypot(mine, theirs)
    return SpeedUp(ratio, ratio * math.exp(-half), ratio * math.exp(half))
