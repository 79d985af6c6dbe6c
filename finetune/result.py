"""Result: one fine-tune's figures together with the configuration, versions and hardware behind them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Result:
    config: dict  # RunConfig as a dict
    model: dict  # name, source, location, and why it was chosen
    data_source: str
    num_train_examples: int
    num_eval_examples: int
    num_train_steps: int  # len(train batches) * epochs: the length of the learning-rate schedule
    accuracy: float
    f1: float
    metric_source: str
    collapsed: str | None  # "all-positive" / "all-negative" when every prediction is one class
    majority_accuracy: float  # always predicting the validation set's most common label scores this
    epoch_losses: list
    step_losses: list
    step_time: dict  # timing.StepStats
    examples_per_s: float  # steady state: batch_size / median step time
    wall_time_s: dict  # load, train, predict, total
    versions: dict
    hardware: dict
    measured_at: str  # UTC, ISO 8601, when the run finished

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)
