"""Step time from a training loop's hooks (finetune.hooks): per-step wall time and loss, each epoch's wall time, and
from them the headline (whole epochs: what a user waits for) and the steady state without tracing (a diagnostic).

The clock runs from `on_train_batch_begin` to `on_train_batch_end`; Keras turns the step's logs
into Python numbers at batch end, so the step has finished on the device when the clock stops (an engine's own
loop calls on_train_batch_end once its step has finished).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

from finetune.hooks import Hooks


@dataclass(frozen=True)
class StepStats:
    median_ms: float
    p25_ms: float
    p75_ms: float
    iqr_ms: float
    mean_ms: float
    steps_kept: int  # steps the statistics are computed from
    steps_total: int
    steps_skipped: int  # the first steps, left out as tracing / retracing warm-up

    def to_dict(self) -> dict:
        return asdict(self)


def steady_state(step_times_s: list[float], skip: int) -> StepStats:
    """Statistics over all steps after the first `skip` (at least one step is always kept)."""
    if not step_times_s:
        raise ValueError("no steps were timed")
    skip = min(skip, len(step_times_s) - 1)
    kept_ms = sorted(1000.0 * t for t in step_times_s[skip:])
    if len(kept_ms) >= 2:
        p25, _, p75 = statistics.quantiles(kept_ms, n=4, method="inclusive")
    else:
        p25 = p75 = kept_ms[0]
    return StepStats(
        median_ms=statistics.median(kept_ms),
        p25_ms=p25,
        p75_ms=p75,
        iqr_ms=p75 - p25,
        mean_ms=statistics.fmean(kept_ms),
        steps_kept=len(kept_ms),
        steps_total=len(step_times_s),
        steps_skipped=skip,
    )


@dataclass(frozen=True)
class FitTime:
    """What a user waits for: fit()'s wall time over whole epochs, and the one-time cost inside it."""
    epoch_s: tuple  # wall seconds of each epoch, callbacks and input pipeline included
    steps: int  # training steps over all epochs
    ms_per_step: float  # headline: sum(epoch_s) / steps
    compile_s: float  # tracing and compilation: the first step's excess over the steady-state median

    def to_dict(self) -> dict:
        return {**asdict(self), "epoch_s": list(self.epoch_s)}


def fit_time(epoch_s: list[float], step_times_s: list[float], steady: StepStats) -> FitTime:
    steps = len(step_times_s)
    if not steps or not epoch_s:
        raise ValueError("no steps were timed")
    return FitTime(epoch_s=tuple(epoch_s), steps=steps, ms_per_step=1000.0 * sum(epoch_s) / steps,
                   compile_s=max(0.0, step_times_s[0] - steady.median_ms / 1000.0))


class StepRecorder(Hooks):
    """Records each training step's wall time and loss, and each epoch's wall time: hooks of a training loop
    (finetune.hooks), which the Keras engines hand to fit() as a callback (finetune/engines/keras_callbacks.py).
    Imports no framework.

    Keras reports the epoch's running mean loss after each batch; the step's own loss is recovered
    exactly from consecutive running means: loss_k = k * mean_k - (k - 1) * mean_(k-1).
    """

    def __init__(self):
        super().__init__()
        self.step_times_s: list[float] = []
        self.step_losses: list[float] = []
        self.epoch_losses: list[float] = []
        self.epoch_s: list[float] = []
        self._start = 0.0
        self._epoch_start = 0.0
        self._previous_mean = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._previous_mean = 0.0
        self._epoch_start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.step_times_s.append(time.perf_counter() - self._start)
        mean = float(logs["loss"])
        self.step_losses.append((batch + 1) * mean - batch * self._previous_mean)
        self._previous_mean = mean

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_s.append(time.perf_counter() - self._epoch_start)
        self.epoch_losses.append(float(logs["loss"]))
