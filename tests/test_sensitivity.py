"""bench.sensitivity's count of unchanged A/B intervals that miss 1 (how the A/B mode's workers are sized)."""

import numpy as np
import pytest

from bench.judge import blocks
from bench.session import sensitivity


def decision(low: float, high: float) -> dict:
    return {"ratio": (low * high) ** 0.5, "low": low, "high": high, "slower": False}


def test_coverage_counts_each_side_apart():
    found = sensitivity.coverage([decision(0.97, 1.03), decision(1.01, 1.06), decision(0.918, 0.995),
                                  decision(0.99, 1.0), decision(1.0, 1.02)])
    # an interval that touches 1 holds it; one above and one below miss it
    assert found == {"decisions": 5, "above_1": 1, "below_1": 1, "missed": 2}


@pytest.mark.parametrize("processes", [3, 4, 6])
def test_an_unchanged_pairs_interval_misses_1_at_its_stated_rate(processes):
    """The A/B mode's interval is two-sided at 1 - 2 alpha (90%): over unchanged pairs of process means drawn
    alike, it misses 1 about 10% of the time, half on each side. A one-sided quantile, a wrong standard error or
    degrees of freedom moves the rate outside these bounds (4,000 decisions: sd of the rate 0.5%)."""
    rng = np.random.default_rng(processes)
    unchanged = []
    for _ in range(4000):
        a, b = np.exp(rng.normal(np.log(300.0), 0.02, size=(2, processes)))
        verdict = blocks.ab_test(list(a), list(b))
        unchanged.append({"low": verdict.low, "high": verdict.high})
    found = sensitivity.coverage(unchanged)
    assert 0.08 <= found["missed"] / 4000 <= 0.12
    assert 0.035 <= found["above_1"] / 4000 <= 0.065
    assert 0.035 <= found["below_1"] / 4000 <= 0.065
