"""Result: one fine-tune's figures together with the configuration, versions and hardware behind them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Result:
    config: dict  # RunConfig as a dict
    model: dict  # name, source, location, and why it was chosen
    perf_choice: str  # the performance variant asked for, and for `best` which one it resolved to and why
    data_source: str
    num_train_examples: int
    num_eval_examples: int
    num_train_steps: int  # len(train batches) * epochs: the length of the learning-rate schedule
    accuracy: float | None  # on the headline validation split; None for a regression (STS-B)
    f1: float | None  # binary F1 of the positive class where the task's GLUE metric has it (MRPC, QQP), else None
    metric_source: str
    collapsed: str | None  # "all-positive" / "all-negative" when every prediction is one class ("constant": STS-B)
    majority_accuracy: float | None  # always predicting the validation set's most common label scores this
    epoch_losses: list
    step_losses: list
    step_time: dict  # timing.StepStats: the steady-state median and spread, a diagnostic
    fit: dict  # timing.FitTime: the headline ms per step over whole epochs, and compile_s apart
    examples_per_s: float  # headline: training rows per second of fit() wall time over all epochs
    peak_rss_mb: float | None  # the process's peak host memory during the run (finetune.memory)
    wall_time_s: dict  # load, train, predict, total
    versions: dict
    hardware: dict
    measured_at: str  # UTC, ISO 8601, when the run finished
    calibration: dict | None = None  # finetune.calibration, timed before the run where the caller did (CLI, bench)
    task: str = "mrpc"
    scores: dict | None = None  # the task's GLUE metrics on the headline validation split (finetune.tasks)
    eval_scores: dict | None = None  # validation split -> its GLUE metrics (MNLI: matched and mismatched)
    profile: dict | None = None  # --profile: ms per step by category of a few steady steps (finetune.profile)
    compile_cache: str = "off"  # how the run found XLA's persistent cache (finetune.compile_cache.Snapshot.label)

    @property
    def headline(self) -> tuple[str, float]:
        """The task's first GLUE metric and its value (MRPC: accuracy; CoLA: Matthews; STS-B: Pearson)."""
        name = next(iter(self.scores)) if self.scores else "accuracy"
        return name, (self.scores or {}).get(name, self.accuracy)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)
