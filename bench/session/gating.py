"""The gate's outcomes as tests report them, and its test hook, the planted slowdown (--plant-slowdown): the
harness slows the work it times, so the recipe (finetune/) knows nothing of it.
"""

from __future__ import annotations

import time

import pytest


def gate_of(verdicts: list) -> dict:
    """extra_info["gate"]: each compared figure's outcome, "passed", "failed" or "skipped: <why>"."""
    return {name: {True: "passed", False: "failed"}.get(passed, f"skipped: {message}")
            for name, (passed, message) in verdicts}


def skip_if_ungated(gate: dict) -> None:
    """A test whose every comparison was skipped is reported as a skip, with the reason, not as a pass."""
    if gate and all(outcome.startswith("skipped") for outcome in gate.values()):
        pytest.skip("; ".join(dict.fromkeys(outcome.removeprefix("skipped: ") for outcome in gate.values())))


def must_learn(suite) -> bool:
    """A pretrained model's variants of the fix (a performance variant, the fix on several workers) must learn; a
    random one's (tiny: its every recipe collapses on MRPC, the fix's too) are held to the fix's band alone, as
    test_quality holds the fix."""
    return suite.prepared().model.source != "random"


def random_weights_skip(suite, who: str, result) -> None:
    """Skip, saying why, where `result` did not learn and need not (must_learn): a random model proves nothing."""
    from bench.judge import learning
    from finetune import metrics

    if not must_learn(suite) and not learning.learned(*learning.state(result)):
        pytest.skip(f"{who} did not learn ({metrics.scores_text(result.scores, result.accuracy, result.f1)}), and "
                    f"need not: {suite.options.model} has random weights, and its fix does not learn either "
                    "(test_quality holds it to its band alone); a pretrained model's must")


def in_the_fix_band(benchmark, suite, nodeid: str, result, who: str, must_learn: bool = True) -> None:
    """A fine-tune that is not one of the course's recipes (a performance variant, the fix on several workers):
    it must learn (where `must_learn`), and land in the band of the fix, the recipe it trains with. The gate's
    outcome goes into the record; a comparison with no baseline is a visible skip. A run that collapsed is never
    inside the band, even where it need not learn (bench.judge.verdicts.judge's collapse rule)."""
    from bench.judge import learning
    from finetune import metrics

    from bench.session.tiers import WINNER

    assert learning.learned(*learning.state(result)) or not must_learn, (
        f"{who} did not learn: {metrics.scores_text(result.scores, result.accuracy, result.f1)} "
        f"[{learning.verdict(*learning.state(result))}]")
    verdicts = suite.compare_scores(nodeid, result, suite.quality_key(*WINNER))  # a collapse is never inside
    benchmark.extra_info["gate"] = gate_of(verdicts)
    failures = [f"{who}: {message}" for _, (passed, message) in verdicts if passed is False]
    assert not failures, "; ".join(failures)
    skip_if_ungated(benchmark.extra_info["gate"])


def slowed(timed, fraction: float):
    """`timed` (a zero-argument callable returning its own seconds, e.g. StepBench.timed_pass) made `fraction`
    slower: after each call, sleep that fraction of its duration and return the longer time."""
    if not fraction:
        return timed

    def slower() -> float:
        started = time.perf_counter()
        timed()
        time.sleep((time.perf_counter() - started) * fraction)
        return time.perf_counter() - started

    return slower


def slowdown_callbacks(fraction: float) -> tuple:
    """Hooks (finetune.hooks) for a fine-tune's training loop that make every training step `fraction` slower (none
    for 0)."""
    if not fraction:
        return ()
    from finetune.hooks import Hooks

    class PlantedSlowdown(Hooks):
        def on_train_batch_begin(self, batch, logs=None):
            self._started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            time.sleep((time.perf_counter() - self._started) * fraction)

    return (PlantedSlowdown(),)
