"""What the recipe (finetune.train) and the harness (bench/) ask of an engine, in one class. Imports no framework,
and neither do its defaults: an engine's module imports its own (TensorFlow, Keras 3, ...) inside its methods, so
that listing, validating and choosing engines costs nothing, and an engine without TensorFlow inherits nothing
that needs it (docs/engines.md, "Adding an engine")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from finetune.errors import FinetuneError


@dataclass(frozen=True)
class Trained:
    """What an engine's fine-tune gives back: the step timer, the predictions of each validation split, the
    schedule's length, and the clock at the end of loading, training and predicting."""
    timer: object  # finetune.step_recorder.StepRecorder (hooks of the fine-tune's loop): per-step and per-epoch times, losses
    predictions: object  # numpy array, of the headline validation split
    others: dict  # split -> predictions, of the task's other validation splits (MNLI: mismatched)
    num_train_steps: int
    loaded: float
    trained: float
    predicted: float


class Engine:
    """One engine. A subclass sets `name` (and `backends` where it takes one) and implements `train` and
    `step_bench`; the rest has defaults that fit an engine which places ops on the device it is asked for, runs on
    one device, and whose results depend on the recipe's libraries alone."""

    name: ClassVar[str] = ""
    backends: ClassVar[tuple] = ()  # the --backend values it takes; () for none
    chooses_device: ClassVar[bool] = True  # False: the backend places ops itself (no --device cpu|gpu of its own)
    speed_targets: ClassVar[bool] = False  # perf.BEST_BY_HOST's speed targets were measured on this engine
    array_backend: ClassVar[str] = "numpy"  # whose arrays time the calibration and hold GPU memory (calibration.py
    #                                         BLOCKS_OF, memory.py): tensorflow, jax, torch or numpy (no GPU memory)
    # the libraries whose versions its results depend on (recorded with them, and a baseline's versions compared):
    # the recipe's (tokenizer, data, metrics, harness); an engine adds its framework's
    libraries: ClassVar[tuple] = ("transformers", "datasets", "evaluate", "numpy", "pytest-benchmark")

    def __init__(self, backend: str | None = None):
        self.validate(backend)
        self.backend = backend

    @classmethod
    def validate(cls, backend: str | None) -> None:
        """A bad --backend for this engine: one line naming it and the fix."""
        if cls.backends and backend is None:
            raise FinetuneError(f"--engine {cls.name} needs --backend: choose one of {', '.join(cls.backends)}")
        if cls.backends and backend not in cls.backends:
            raise FinetuneError(f"unknown backend {backend!r}: choose one of {', '.join(cls.backends)}")
        if not cls.backends and backend is not None:
            raise FinetuneError(f"--backend {backend}: --engine {cls.name} takes no backend; leave --backend out")

    @property
    def label(self) -> str:
        """The engine as records, baseline keys and the report name it: tf-keras, keras3-jax."""
        return self.name if self.backend is None else f"{self.name}-{self.backend}"

    # --- the process ---------------------------------------------------------------------------------------
    def prepare_process(self) -> None:
        """Before anything imports a framework: the process state this engine needs (an environment variable),
        and a one-line error where its libraries are missing."""

    def versions(self) -> dict:
        """The versions of Python and of this engine's `libraries` (None: not installed)."""
        from finetune import environment

        return environment.versions(self.libraries)

    def profiler(self) -> tuple | None:
        """(start(logdir), stop()) of this engine's framework profiler, for finetune.profile; None: it has none."""
        return None

    def clear_session(self) -> None:
        """Forget the models built so far (between benchmarks)."""

    # --- the recipe ----------------------------------------------------------------------------------------
    def train(self, config, prepared, verbose, callbacks: tuple) -> Trained:
        """One fine-tune of `config` on `prepared`: a fit() whose loop calls the hooks (finetune.hooks) of a new
        finetune.step_recorder.StepRecorder and of `callbacks` (the harness's and the profile's), then predict()."""
        raise NotImplementedError

    def step_bench(self, config, prepared, batches: int):
        """The training step over the first `batches` prepared batches: a finetune.steptime.Described (shape, rates,
        ms_per_step) that sets config, batches, rows, shapes, replicas, flops_per_step, tokens_per_batch and
        padded_tokens_per_batch, and has timed_pass(), traces(), precision() and close() (multi-worker runs:
        collective and allreduce_ms() too)."""
        raise NotImplementedError

    # --- devices and variants ------------------------------------------------------------------------------
    def device_kind(self, requested: str | None = None) -> str:
        """Where this engine runs the step: "cpu" or "gpu" (`requested`: --device, where the engine chooses; auto:
        the GPU where the host has one, as finetune.hardware describes it)."""
        from finetune import runtime  # its module imports no framework; device_kind reads the described host

        return requested or runtime.device_kind("auto")

    def device_skip(self, device: str) -> str | None:
        """Why the step-time benchmark on `device` cannot run on this engine here (None: it can)."""
        if not self.chooses_device and device != self.device_kind():
            return (f"{self.label} runs where its backend places it ({self.device_kind()} here): it has no {device} "
                    "of its own to choose")
        return None

    def replicas(self, device: str) -> int:
        """How many devices a data-parallel run spreads a batch over (one: an engine without data parallelism)."""
        return 1

    def runs_as(self, perf):
        """The performance configuration as this engine runs it (finetune.perf.PerfConfig)."""
        return perf

    def compiles_with_xla(self, config) -> bool:
        """Whether a run of `config` compiles with XLA (and so can use finetune.compile_cache)."""
        return bool(self.runs_as(config.perf).jit_compile)

    def unsupported(self, perf) -> str | None:
        """Why this engine cannot run `perf` (None: it can): by default, any data-parallel run (it has one device)."""
        if perf.distribute != "none":
            return f"{self.label} runs on one device: it has no --distribute {perf.distribute}"
        return None

    def collective(self, kind: str | None = None) -> str | None:
        """The all-reduce implementation of this engine's multi-worker runs on `kind` ("cpu" or "gpu"; None: where
        this process runs), None where it has none."""
        return None

    def flags(self) -> list[str]:
        """The command-line flags that choose this engine (`python -m finetune`, `pytest bench/`, bench/timing/timed_process.py);
        the default engine passes none (the A/B mode runs block.py against revisions from before engines)."""
        return ["--engine", self.name] + (["--backend", self.backend] if self.backend else [])
