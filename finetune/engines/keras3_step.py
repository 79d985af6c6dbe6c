"""The keras3 engine's step bench: the training step over prepared batches, timed as epochs of one fit() held in a
thread of its own between passes."""

from __future__ import annotations

import dataclasses
import queue
import threading

import numpy as np

from finetune import flops, models
from finetune.engines.keras3_data import numpy_batches, py_dataset
from finetune.engines.keras3_process import check_device, collective, configured, device_kind, keras_for
from finetune.engines.keras3_train import build_model
from finetune.engines.keras3_variants import effective
from finetune.engines.keras_callbacks import keras_callbacks
from finetune.errors import FinetuneError
from finetune.hardware import Host
from finetune.steptime import Described
from finetune.step_recorder import StepRecorder


class _Stop(Exception):
    """Ends the one fit() of a StepBench (raised in its callback when the bench is closed)."""


class StepBench(Described):
    """finetune.steptime.StepBench's interface on Keras 3: the first `num_batches` training batches (in file order,
    padded as config.perf runs on the backend) prepared once; a pass is one epoch of fit() over them, timed from the
    epoch's start to its end by the step recorder (fit()'s own loop and data path, as a user's fine-tune runs).

    All passes are epochs of ONE fit(), run in a thread of its own and held between epochs until the next pass is
    asked for: every fit() call pays a set-up that no step of a fine-tune pays again (measured on the TensorFlow
    backend: about 4 s in the first step of each call, against 0.4 s a step), so a pass per fit() call would
    time it 16 times over."""

    def __init__(self, config, prepared, num_batches: int):
        check_device(config)
        self.config = dataclasses.replace(config, perf=effective(config.perf, config.backend))
        with configured(self.config) as replicas:
            train, _ = numpy_batches(self.config, prepared, shuffle_train=False)
            self.batches = [train[i] for i in range(min(num_batches, len(train)))]  # padded before timing
            self._dataset = py_dataset(self.config.backend, self.batches)
            # a schedule far longer than the timed steps: the learning rate stays near its peak, as early in a run
            self.model = build_model(self.config, prepared, num_train_steps=1000 * len(self.batches))
        self.replicas = replicas
        self.collective = collective(self.config.backend) if self.config.perf.distribute == "multi-worker" else None
        self.rows = sum(int(y.shape[0]) for _, y in self.batches)
        self.shapes = sorted({tuple(x["input_ids"].shape) for x, _ in self.batches})
        masks = [x["attention_mask"] for x, _ in self.batches]
        self.tokens_per_batch = float(np.mean([m.sum() for m in masks]))
        self.padded_tokens_per_batch = float(np.mean([m.size for m in masks]))
        architecture = flops.Architecture.from_config(
            models.architecture_config(prepared.model, len(prepared.tokenizer)), num_labels=prepared.task.num_labels)
        self.flops_per_step = float(np.mean([flops.training_flops(architecture, *m.shape) for m in masks]))

        self._requests: queue.Queue = queue.Queue()
        self._finished: queue.Queue = queue.Queue()
        self._thread = None

    def _fit(self) -> None:
        keras, bench = keras_for(self.config.backend), self

        class Passes(StepRecorder):
            def on_epoch_begin(self, epoch, logs=None):
                if bench._requests.get() is None:
                    raise _Stop()
                super().on_epoch_begin(epoch, logs)

            def on_epoch_end(self, epoch, logs=None):
                super().on_epoch_end(epoch, logs)
                bench._finished.put((self.epoch_s[-1], len(self.step_times_s)))

        try:
            with configured(self.config):
                keras.Model.fit(self.model, self._dataset, epochs=10 ** 9, verbose=0,
                                callbacks=keras_callbacks(keras.callbacks.Callback, [Passes()]))
        except _Stop:
            pass
        except Exception as err:  # noqa: BLE001  (handed to the caller, in its thread)
            self._finished.put(err)

    def timed_pass(self) -> float:
        """Seconds of one epoch of the bench's fit() over the prepared batches (the next pass asked for)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._fit, name="keras3-step-bench", daemon=True)
            self._thread.start()
        self._requests.put(True)
        answer = self._finished.get()
        if isinstance(answer, Exception):
            raise answer
        seconds, steps = answer
        if steps % len(self.batches):
            raise FinetuneError(f"fit() ran {steps} steps, not whole passes of {len(self.batches)} batches")
        return seconds

    def close(self) -> None:
        """End the bench's fit() (its thread and the model it holds)."""
        if self._thread is not None:
            self._requests.put(None)
            self._thread.join(timeout=60)
            self._thread = None

    def allreduce_ms(self, rounds: int = 5) -> tuple:
        """(None, why): on JAX the gradients' all-reduce is inside the one jitted step XLA compiles, not an op
        that can be timed apart from it."""
        if self.collective is None:
            return None, "no collectives: one process"
        return None, "not measured: on keras3-jax the all-reduce is fused into the jitted training step"

    def traces(self) -> None:
        """Keras 3 keeps no tracing count (JAX compiles once per batch shape: self.shapes)."""
        return None

    def precision(self) -> str:
        kind = device_kind(self.config.backend)
        return Host.here().matmul_precision(self.model.dtype_policy.compute_dtype, kind,
                                            tf32_enabled=tf32_allowed(self.config.backend))


def tf32_allowed(backend: str) -> bool:
    """Whether the backend lets float32 matmuls run as TF32 on a GPU that has it, as it is set in this process:
    PyTorch only with torch.backends.cuda.matmul.allow_tf32 (off by default) or a float32 matmul precision below
    "highest"; JAX unless its default matmul precision is "highest" (XLA's DEFAULT is TF32 there)."""
    if backend == "torch":
        import torch

        return bool(torch.backends.cuda.matmul.allow_tf32) or torch.get_float32_matmul_precision() != "highest"
    if backend == "jax":
        import jax

        return str(jax.config.jax_default_matmul_precision or "default").lower() not in ("highest", "float32")
    return True  # TensorFlow: TF32 unless tf.config.experimental.enable_tensor_float_32_execution(False)
