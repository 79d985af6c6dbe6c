"""Steady-state training steps on batches prepared before timing, for pytest-benchmark to time: what every engine's
StepBench shares (`Described`), and the comparison of benches (`first_rows`, `interleaved_passes`). The tf-keras
engine's StepBench is finetune/engines/tf_keras.py's; the keras3 engine's, finetune/engines/keras3.py's.

The course's model, loss and optimizer, and its batches (dynamic padding, batch size as given);
the batches are the first training rows in file order, so every repeat and device times the same work.
config.perf (finetune.perf) changes the padding, XLA, precision and distribution of the steps timed.

Two variants are compared fairly on the same rows: `first_rows` cuts the training split (the gated step time's
rows: its history must stay comparable), `length_sample` takes rows whose lengths follow the whole split's (what
a variant's figure must stand for: padding and bucketing pay by length), each bench batches all of them
(bucketing regroups the rows, into as many batches), and `interleaved_passes` times whole passes over those
batches, alternating the benches so the machine's load falls on each alike.
"""

from __future__ import annotations

import dataclasses
import time

import datasets
import numpy as np

from finetune import data


class Described:
    """What a step bench times, in plain numbers, and the throughput at a step time: for either engine's bench, which
    sets config, batches, rows, flops_per_step, tokens_per_batch, padded_tokens_per_batch and precision()."""

    def shape(self) -> dict:
        """What is timed, in plain numbers: enough for `rates` in another process (bench/timing/timed_process.py)."""
        return {"batches": len(self.batches), "batch_size": self.config.batch_size, "rows": self.rows,
                "flops_per_step": self.flops_per_step, "tokens_per_batch": self.tokens_per_batch,
                "padded_tokens_per_batch": self.padded_tokens_per_batch, "precision": self.precision()}

    def rates(self, step_time_ms: float) -> dict:
        return rates(self.shape(), step_time_ms)

    def ms_per_step(self, pass_seconds) -> float:
        """The headline of a set of whole passes: mean pass time / batches per pass."""
        return 1000.0 * float(np.mean(pass_seconds)) / len(self.batches)


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


def length_sample(prepared: data.PreparedData, count: int, seed: int = 0) -> data.PreparedData:
    """`prepared` with `count` training rows whose lengths follow the whole training split's: the rows at evenly
    spaced quantiles of length (the i-th at the (i + 1/2) / count quantile), in a seeded random order, so that
    batches mix lengths as fit()'s shuffled ones do. The first rows of a file are no such sample in general, and
    padding and bucketing pay by length."""
    train = prepared.tokenized["train"]
    count = min(count, len(train))
    lengths = np.array([len(ids) for ids in train["input_ids"]])
    by_length = np.argsort(lengths, kind="stable")
    picks = by_length[((np.arange(count) + 0.5) * len(train) / count).astype(int)]
    picks = np.random.default_rng(seed).permutation(picks)
    sample = datasets.DatasetDict({**prepared.tokenized, "train": train.select(picks.tolist())})
    return dataclasses.replace(prepared, tokenized=sample)


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
