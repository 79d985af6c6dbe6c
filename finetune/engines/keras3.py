"""The keras3 engine: the course's recipe on Keras 3 + keras-hub, on JAX, TensorFlow or PyTorch.

    python -m finetune --engine keras3 --backend jax --model minilm-l6 --epochs 3

The same RunConfig, data (the Hugging Face tokenizer's token ids, batched by finetune.data), metrics and Result as
the tf-keras engine; the model is keras-hub's BertBackbone converted from the checkpoint's folder
(`BertBackbone.from_preset(dir)` reads config.json and model.safetensors) under BertTextClassifier's head
(pooled output, dropout 0.1, a Dense of num_labels). What keeps the recipe the same, or differs, on Keras 3:
- PolynomialDecay's default end_learning_rate is 1e-4 in Keras 3: 0.0 is passed, as the course's.
- jit_compile is set, never "auto": XLA on JAX (its only compiled path), none on TensorFlow (as the course's
  tf-keras run) and torch (eager).
- JAX compiles one program per batch shape, so its batches are padded to a multiple of JAX_PAD_MULTIPLE (at most
  a dozen shapes on MRPC, against about 80 distinct lengths); TensorFlow and torch pad per batch, as the course.
- BertBackbone uses the tanh approximation of GELU where Hugging Face's BERT uses the exact one.
- The string loss: Keras 3 on TensorFlow looks for a softmax, as tf-keras does; JAX and torch divide the logits
  by their sum and clip, a different pitfall (keras/src/backend/jax/nn.py).
Performance variants (finetune/perf.py) as Keras 3 has them (`effective`, `unsupported`): padding as the tf-keras
engine's; precision as Keras 3's dtype policy around the model's build; XLA as jit_compile (always on JAX);
distribute mirrored as keras.distribution.DataParallel over every device (JAX only: Keras 3's distribution API).
Keras 3 fixes its backend when it is first imported (KERAS_BACKEND): one backend per process. Its batches are
finetune.data's numpy ones (numpy_batches) in a keras.utils.PyDataset, on every backend: TensorFlow is not needed
on JAX or torch.

The engine's jobs, a module each: keras3_process.py (the backend, devices, process state), keras3_variants.py (the
variants as each backend runs them), keras3_data.py (the batches), keras3_train.py (the model, fit and predict),
keras3_step.py (the step bench).
"""

from __future__ import annotations

import os
import sys

from finetune.engines import ENGINES
from finetune.engines.base import Engine, Trained
from finetune.engines.keras3_process import (check_accelerator, collective, device_kind, keras_for,
                                             replica_devices)
from finetune.engines.keras3_step import StepBench
from finetune.engines.keras3_train import train
from finetune.engines.keras3_variants import JAX_PAD_MULTIPLE, effective, unsupported  # noqa: F401  (keras3.effective)
from finetune.errors import FinetuneError
from finetune.perf import PerfConfig


class Keras3(Engine):
    """The engine's interface over the keras3_* modules' functions."""

    name = "keras3"
    backends = ENGINES["keras3"].backends
    chooses_device = False  # Keras 3 places ops where its backend does
    # every backend's, on each backend (its records have always had them all); tensorflow and tf_keras as tf-keras's
    libraries = ("tensorflow", "tf_keras") + Engine.libraries + ("keras", "keras-hub", "jax", "torch")

    @property
    def array_backend(self) -> str:
        return self.backend

    def prepare_process(self) -> None:
        os.environ["KERAS_BACKEND"] = self.backend  # Keras 3 fixes its backend at its first import
        keras_for(self.backend)  # missing Keras 3 or keras-hub: one line, before anything runs
        check_accelerator(self.backend)
        from finetune import cluster

        world = cluster.World.from_env()
        if world.distributed:
            problem = unsupported(PerfConfig(distribute="multi-worker"), self.backend)
            if problem:
                raise FinetuneError(problem)
            keras_for(self.backend).distribution.initialize()  # jax.distributed, from KERAS_DISTRIBUTION_*

    def profiler(self) -> tuple | None:
        """JAX's profiler on jax, TensorFlow's on tensorflow (both write an XSpace); none wired for torch."""
        if self.backend == "jax":
            import jax

            return jax.profiler.start_trace, jax.profiler.stop_trace
        if self.backend == "tensorflow":
            import tensorflow as tf

            return tf.profiler.experimental.start, tf.profiler.experimental.stop
        return None

    def clear_session(self) -> None:
        keras_for(self.backend).backend.clear_session()
        if sys.modules.get("tf_keras") is not None:  # a tf-keras model of the session (None: made unimportable)
            sys.modules["tf_keras"].backend.clear_session()

    def train(self, config, prepared, verbose, callbacks: tuple) -> Trained:
        return train(config, prepared, verbose, callbacks)

    def step_bench(self, config, prepared, batches: int):
        return StepBench(config, prepared, batches)

    def device_kind(self, requested: str | None = None) -> str:
        return device_kind(self.backend)

    def replicas(self, device: str) -> int:
        return len(replica_devices(self.backend))

    def runs_as(self, perf: PerfConfig) -> PerfConfig:
        return effective(perf, self.backend)

    def unsupported(self, perf: PerfConfig) -> str | None:
        return unsupported(effective(perf, self.backend), self.backend)

    def collective(self, kind: str | None = None) -> str | None:
        return collective(self.backend, kind)
