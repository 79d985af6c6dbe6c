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


def slowdown_callbacks(fraction: float, engine) -> tuple:
    """Keras callbacks (of `engine`'s Keras: a finetune.engines.Engine) for a fine-tune's fit() that make every
    training step `fraction` slower (none for 0)."""
    if not fraction:
        return ()

    class PlantedSlowdown(engine.callback_base()):
        def on_train_batch_begin(self, batch, logs=None):
            self._started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            time.sleep((time.perf_counter() - self._started) * fraction)

    return (PlantedSlowdown(),)
