"""RunConfig: everything that defines one fine-tune, validated where it is built.

The scientific variables compared by the benchmarks are `loss` and `optimizer` (and `device`, and the
performance variant `perf`); everything else is held fixed at the course's values unless a caller changes it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from finetune import engines
from finetune.errors import FinetuneError
from finetune.perf import COURSE, PerfConfig
from finetune.recipes import LOSSES, OPTIMIZERS
from finetune.tasks import TASKS

DEVICES = ("auto", "cpu", "gpu")
ENGINES = engines.names()  # finetune/engines: tf-keras (the course's), keras3 (Keras 3 + keras-hub), ...
BACKENDS = engines.all_backends()  # every engine's (keras3: jax, tensorflow, torch)


def _choose(kind: str, value: str, table) -> None:
    if value not in table:
        raise FinetuneError(f"unknown {kind} {value!r}: choose one of {', '.join(table)}")


@dataclass(frozen=True)
class RunConfig:
    task: str = "mrpc"
    model: str = "minilm-l6"  # a MODELS name, a Hub id, or a local directory
    loss: str = "from_logits"
    optimizer: str = "linear-decay"
    epochs: int = 3
    batch_size: int = 8
    seed: int = 0
    max_train_samples: int | None = None  # None: the whole training split
    max_eval_samples: int | None = None  # None: the whole validation split
    glue_dir: str | None = None  # GLUE download layout ($GLUE_DIR/MRPC/train.tsv); None: the Hub
    device: str = "auto"  # auto: TensorFlow's placement; cpu/gpu: pinned with tf.device
    warmup_steps: int = 10  # steps left out of the steady-state step time (tracing, retracing)
    perf: PerfConfig = COURSE  # padding, XLA, precision, distribution (finetune.perf); default: the course's
    engine: str = "tf-keras"  # ENGINES
    backend: str | None = None  # keras3: one of BACKENDS; tf-keras: None (it runs on TensorFlow)

    def __post_init__(self):
        _choose("task", self.task, TASKS)
        _choose("loss", self.loss, LOSSES)
        _choose("optimizer", self.optimizer, OPTIMIZERS)
        _choose("device", self.device, DEVICES)
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                flag = "--" + name.replace("_", "-")
                raise FinetuneError(f"{flag} must be a positive whole number, got {value!r}: pass e.g. {flag} 3")
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                flag = "--" + name.replace("_", "-")
                raise FinetuneError(f"{flag} must be a positive whole number or omitted, got {value!r}")
        _choose("engine", self.engine, engines.names())
        engines.validate(self.engine, self.backend)  # each engine checks its own options
        if not isinstance(self.perf, PerfConfig):
            raise FinetuneError(f"perf must be a finetune.perf.PerfConfig, got {self.perf!r}")
        if self.warmup_steps < 0:
            raise FinetuneError(f"--warmup-steps cannot be negative, got {self.warmup_steps}")

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)
