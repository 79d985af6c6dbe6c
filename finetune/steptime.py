"""Steady-state training steps on batches prepared before timing, for pytest-benchmark to time.

The course's model, loss and optimizer, and its batches (dynamic padding, batch size as given);
the batches are the first training rows in file order, so every repeat and device times the same work.
config.perf (finetune.perf) changes the padding, XLA, precision and distribution of the steps timed.

Two variants are compared fairly on the same rows: `first_rows` cuts the training split, each bench
batches all of it (bucketing regroups the rows, into as many batches), and `interleaved_passes` times whole
passes over those batches, alternating the benches so the machine's load falls on each alike.
"""

from __future__ import annotations

import dataclasses
import time

import datasets
import numpy as np

from finetune import data, flops, runtime, train
from finetune.config import RunConfig
from finetune.hardware import Host


class Described:
    """What a step bench times, in plain numbers, and the throughput at a step time: for either engine's bench, which
    sets config, batches, rows, flops_per_step, tokens_per_batch, padded_tokens_per_batch and precision()."""

    def shape(self) -> dict:
        """What is timed, in plain numbers: enough for `rates` in another process (bench/block.py)."""
        return {"batches": len(self.batches), "batch_size": self.config.batch_size, "rows": self.rows,
                "flops_per_step": self.flops_per_step, "tokens_per_batch": self.tokens_per_batch,
                "padded_tokens_per_batch": self.padded_tokens_per_batch, "precision": self.precision()}

    def rates(self, step_time_ms: float) -> dict:
        return rates(self.shape(), step_time_ms)

    def ms_per_step(self, pass_seconds) -> float:
        """The headline of a set of whole passes: mean pass time / batches per pass."""
        return 1000.0 * float(np.mean(pass_seconds)) / len(self.batches)


class StepBench(Described):
    """The prepared batches of one configuration, stepped through as fit() steps them: one (distributed)
    iterator over the cached batches, built once, and the model's own train function called on it each step.
    (`train_on_batch` would build a new one-batch dataset, and under a strategy a new multi-device iterator,
    for every step: set-up that fit() does not pay and that made prepared-batch figures bimodal.)"""

    def __init__(self, config: RunConfig, prepared: data.PreparedData, num_batches: int):
        self.config = config
        with train.session(config, prepared, shuffle_train=False) as run:
            cached = run.train_ds.take(num_batches).cache()
            self.batches = [(x, y) for x, y in cached]  # materialised (and cached) before timing
            self.model = run.model
            repeated = cached.repeat()
            if run.strategy is not None:
                repeated = run.strategy.experimental_distribute_dataset(repeated)
            self._iterator = iter(repeated)
            self._train_function = self.model.make_train_function()
        strategy = run.strategy
        self._placement = runtime.placement(config.device, strategy)
        self.replicas = 1 if strategy is None else strategy.num_replicas_in_sync
        self.rows = sum(int(y.shape[0]) for _, y in self.batches)
        # XLA compiles once per distinct input shape (the train function itself is traced on the iterator's spec).
        self.shapes = sorted({tuple(x["input_ids"].shape) for x, _ in self.batches})
        masks = [x["attention_mask"].numpy() for x, _ in self.batches]
        self.tokens_per_batch = float(np.mean([m.sum() for m in masks]))
        self.padded_tokens_per_batch = float(np.mean([m.size for m in masks]))
        # Per batch, then averaged: the attention term is quadratic in the padded length.
        architecture = flops.Architecture.from_config(self.model.config, num_labels=prepared.task.num_labels)
        self.flops_per_step = float(np.mean([flops.training_flops(architecture, *m.shape) for m in masks]))

    def step(self) -> None:
        """One training step on the next prepared batch; returns when the step has finished (its loss is read
        back, as fit() does at each batch end)."""
        with self._placement():
            logs = self._train_function(self._iterator)
        float(logs["loss"])

    def timed_pass(self) -> float:
        """Seconds for one training step on each prepared batch, in order (the iterator cycles whole passes)."""
        started = time.perf_counter()
        for _ in self.batches:
            self.step()
        return time.perf_counter() - started

    def close(self) -> None:
        """Nothing runs between passes here (finetune.keras3.StepBench ends its fit())."""

    def traces(self) -> int | None:
        """How often Keras' train function has been traced (None before the first step)."""
        function = getattr(self.model, "train_tf_function", None)
        return None if function is None else function.experimental_get_tracing_count()

    def precision(self) -> str:
        """The matmul precision, named as in finetune.flops' peak table (Host.matmul_precision)."""
        import tensorflow as tf

        # The model's own policy: it was built under runtime.configured's, which is restored since.
        return Host.here().matmul_precision(self.model.dtype_policy.compute_dtype, runtime.device_kind(self.config.device),
                                            tf.config.experimental.tensor_float_32_execution_enabled())



def rates(shape: dict, step_time_ms: float) -> dict:
    """Throughput at `step_time_ms` of the work a StepBench.shape() describes."""
    per_s = 1000.0 / step_time_ms
    return {
        "flops_per_step": shape["flops_per_step"],
        "flop_per_s": shape["flops_per_step"] * per_s,
        "precision": shape["precision"],
        "examples_per_s": shape["batch_size"] * per_s,
        "tokens_per_s": shape["tokens_per_batch"] * per_s,  # real (unpadded) tokens
        "padded_tokens_per_s": shape["padded_tokens_per_batch"] * per_s,
        "padding_waste": 1.0 - shape["tokens_per_batch"] / shape["padded_tokens_per_batch"],
    }


def first_rows(prepared: data.PreparedData, count: int) -> data.PreparedData:
    """`prepared` with only the first `count` training rows: the same examples for every variant."""
    train = prepared.tokenized["train"]
    cut = datasets.DatasetDict({**prepared.tokenized, "train": train.select(range(min(count, len(train))))})
    return dataclasses.replace(prepared, tokenized=cut)


def interleaved_passes(benches: dict, rounds: int) -> dict:
    """Per bench, the wall and process CPU seconds of `rounds` passes over its batches, after one untimed
    pass each (tracing, and XLA's compile for every shape). The order alternates (A B, B A, ...) so that drift
    in the machine's load falls on every bench alike; CPU seconds are a cross-check on a shared machine,
    where wall time includes waiting for the cores."""
    for bench in benches.values():
        bench.timed_pass()
    names = list(benches)
    passes = {name: {"wall_s": [], "cpu_s": []} for name in names}
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            cpu_started = time.process_time()
            passes[name]["wall_s"].append(benches[name].timed_pass())
            passes[name]["cpu_s"].append(time.process_time() - cpu_started)
    return passes
