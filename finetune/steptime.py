"""Steady-state training steps on batches prepared before timing, for pytest-benchmark to time.

The course's model, loss and optimizer, and its batches (dynamic padding, batch size as given);
the batches are the first training rows in file order, so every repeat and device times the same work.
"""

from __future__ import annotations

import contextlib
import itertools
import time

import numpy as np

from finetune import data, flops, runtime
from finetune.config import RunConfig
from finetune.train import build_model


class StepBench:
    def __init__(self, config: RunConfig, prepared: data.PreparedData, num_batches: int):
        self.config = config
        with runtime.configured(config.seed, config.device):
            train, _ = data.tf_datasets(prepared, config.batch_size, shuffle_train=False)
            self.batches = [(x, y) for x, y in train.take(num_batches)]  # materialised before timing
            self.model = build_model(config, prepared, num_train_steps=len(train) * config.epochs)
        self._next = itertools.cycle(self.batches).__next__
        masks = [x["attention_mask"].numpy() for x, _ in self.batches]
        self.tokens_per_batch = float(np.mean([m.sum() for m in masks]))
        self.padded_tokens_per_batch = float(np.mean([m.size for m in masks]))
        # Per batch, then averaged: the attention term is quadratic in the padded length.
        architecture = flops.Architecture.from_config(self.model.config, num_labels=prepared.task.num_labels)
        self.flops_per_step = float(np.mean([flops.training_flops(architecture, *m.shape) for m in masks]))

    def placement(self):
        if self.config.device == "auto":
            return contextlib.nullcontext()
        import tensorflow as tf

        return tf.device(runtime.logical_device(self.config.device).name)

    def step(self) -> None:
        """One training step on the next prepared batch; returns when the step has finished."""
        x, y = self._next()
        started = time.perf_counter()
        with self.placement():
            self.model.train_on_batch(x, y)
        if self.config.plant_slowdown:
            time.sleep((time.perf_counter() - started) * self.config.plant_slowdown)

    def precision(self) -> str:
        """The matmul precision, named as in finetune.flops' peak table."""
        import tensorflow as tf
        import tf_keras as keras

        policy = keras.mixed_precision.global_policy().compute_dtype
        if policy in ("bfloat16", "float16"):
            return {"bfloat16": "bf16", "float16": "fp16"}[policy]
        # TensorFlow runs float32 matmuls as TF32 on Ampere and newer GPUs unless told not to.
        on_gpu = self.config.device == "gpu" or (self.config.device == "auto" and tf.config.list_logical_devices("GPU"))
        return "tf32" if on_gpu and tf.config.experimental.tensor_float_32_execution_enabled() else "fp32"

    def rates(self, step_time_ms: float) -> dict:
        per_s = 1000.0 / step_time_ms
        return {
            "flops_per_step": self.flops_per_step,
            "flop_per_s": self.flops_per_step * per_s,
            "precision": self.precision(),
            "examples_per_s": self.config.batch_size * per_s,
            "tokens_per_s": self.tokens_per_batch * per_s,  # real (unpadded) tokens
            "padded_tokens_per_s": self.padded_tokens_per_batch * per_s,
            "padding_waste": 1.0 - self.tokens_per_batch / self.padded_tokens_per_batch,
        }
