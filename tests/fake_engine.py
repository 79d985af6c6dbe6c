"""A minimal engine in numpy, no framework: the proof that adding an engine is one file and one registry row.

    FINETUNE_ENGINES=fake=tests.fake_engine:FakeEngine pytest bench/ --engine fake ...

It fits a logistic regression on three features of each pair (its length, its second segment's length, their
token overlap) with a fit()-like loop that calls the hooks of finetune.hooks (the step timer, the harness's progress
and planted slowdown), predicts, and steps the same regression over prepared batches for the step-time
benchmarks. Everything else is the base's default (finetune/engines/base.py): no framework, one device, numpy's
arrays, the recipe's libraries' versions. The recipe's loss and optimizer choose what a Keras engine would do wrong:
the string loss takes the logits for probabilities (its gradient is clipped as Keras' cross-entropy clips them),
default Adam takes 1e-3 steps of a sign, the fix 5e-5 decayed to 0 (scaled up: this model is tiny).
"""

from __future__ import annotations

import math
import time

import numpy as np

from finetune.engines import Engine, Trained
from finetune.hooks import HookList
from finetune.steptime import Described
from finetune.step_recorder import StepRecorder


def features(split) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for ids, types in zip(split["input_ids"], split["token_type_ids"]):
        ids, types = np.asarray(ids), np.asarray(types)
        first, second = set(ids[types == 0].tolist()), set(ids[types == 1].tolist())
        rows.append([len(ids) / 64.0, (types == 1).sum() / 32.0, len(first & second) / max(len(second), 1), 1.0])
    return np.asarray(rows), np.asarray(split["label"])


def loss_and_gradient(w, x, y, loss: str):
    logits = x @ w
    p = 1.0 / (1.0 + np.exp(-logits))
    if loss == "string":  # the logits taken for probabilities: clipped, as Keras' cross-entropy clips them
        p = np.clip(logits, 1e-7, 1 - 1e-7)
    loss_value = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return loss_value, x.T @ (p - y) / len(y)


class FakeEngine(Engine):
    name = "fake"
    chooses_device = False

    def device_kind(self, requested=None) -> str:
        return "cpu"

    def train(self, config, prepared, verbose, callbacks: tuple) -> Trained:
        x, y = features(prepared.tokenized["train"])
        steps = math.ceil(len(y) / config.batch_size)
        total = steps * config.epochs
        timer = StepRecorder()
        hooks = HookList([timer, *callbacks], steps=steps, epochs=config.epochs)
        hooks.on_train_begin()
        w, step = np.zeros(x.shape[1]), 0
        loaded = time.perf_counter()
        for epoch in range(config.epochs):
            hooks.on_epoch_begin(epoch)
            running = 0.0
            for b in range(steps):
                hooks.on_train_batch_begin(b)
                batch = slice(b * config.batch_size, (b + 1) * config.batch_size)
                value, gradient = loss_and_gradient(w, x[batch], y[batch], config.loss)
                if config.optimizer == "adam":
                    w -= 1e-3 * np.sign(gradient)
                else:
                    w -= 2.0 * (1 - step / total) * gradient
                step += 1
                running += (value - running) / (b + 1)
                hooks.on_train_batch_end(b, {"loss": running})
            hooks.on_epoch_end(epoch, {"loss": running})
        hooks.on_train_end()
        trained = time.perf_counter()
        ex, _ = features(prepared.tokenized[prepared.eval_split])
        predictions = (ex @ w > 0).astype(int)
        return Trained(timer, predictions, {}, total, loaded, trained, time.perf_counter())

    def step_bench(self, config, prepared, batches: int):
        return StepBench(config, prepared, batches)


class StepBench(Described):
    """The regression's step over the first `batches` batches (steptime.StepBench's interface)."""

    def __init__(self, config, prepared, num_batches: int):
        self.config = config
        x, y = features(prepared.tokenized["train"])
        size = config.batch_size
        self.batches = [(x[i:i + size], y[i:i + size]) for i in range(0, min(len(y), num_batches * size), size)]
        self.rows = sum(len(b[1]) for b in self.batches)
        self.shapes = sorted({bx.shape for bx, _ in self.batches})  # the distinct input shapes (XLA's compiles)
        lengths = [len(ids) for ids in prepared.tokenized["train"]["input_ids"][:self.rows]]
        self.tokens_per_batch = float(sum(lengths)) / len(self.batches)
        self.padded_tokens_per_batch = float(max(lengths) * size)
        self.flops_per_step = 4.0 * size * x.shape[1]
        self.replicas, self._w = 1, np.zeros(x.shape[1])

    def timed_pass(self) -> float:
        started = time.perf_counter()
        for bx, by in self.batches:
            for _ in range(200):  # enough work per step for a clock to see
                _, gradient = loss_and_gradient(self._w, bx, by, self.config.loss)
            self._w -= 0.1 * gradient
        return time.perf_counter() - started

    def traces(self):
        return None

    def precision(self) -> str:
        return "fp32"

    def close(self) -> None:
        pass
