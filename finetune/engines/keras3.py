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
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import sys
import threading
import time

import numpy as np

from finetune import data, flops, models
from finetune.engines import ENGINES
from finetune.engines.base import Engine, Trained
from finetune.errors import FinetuneError
from finetune.hardware import Host
from finetune.perf import PerfConfig, unsupported_precision
from finetune.steptime import Described
from finetune.recipes import PEAK_LEARNING_RATE
from finetune.timing import StepRecorder

JAX_PAD_MULTIPLE = 8


class Keras3(Engine):
    """The engine's interface over this module's functions."""

    name = "keras3"
    backends = ENGINES["keras3"].backends
    chooses_device = False  # Keras 3 places ops where its backend does

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

    def versions(self) -> dict:
        from finetune import environment

        return environment.versions(self.name)

    def callback_base(self) -> type:
        return keras_for(self.backend).callbacks.Callback

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
        if unsupported(PerfConfig(distribute="multi-worker"), self.backend):
            return None
        # jax.distributed's CPU collectives are gloo's (JAX's default since 0.5.1); on GPUs, NCCL's
        return "gloo" if (kind or device_kind(self.backend)) == "cpu" else "NCCL"


GPU_PLATFORMS = ("cuda", "gpu", "rocm")


def check_accelerator(backend: str) -> None:
    """Where JAX_PLATFORMS (jax) or KERAS_TORCH_DEVICE (torch) asks for the GPU, one line when it is not usable:
    never a silent fall back to the CPU."""
    platforms = [p.strip() for p in os.environ.get("JAX_PLATFORMS", "").split(",") if p.strip()]
    if backend == "jax" and platforms and all(p in GPU_PLATFORMS for p in platforms):
        import jax

        try:
            jax.devices()
        except Exception as err:  # noqa: BLE001  (RuntimeError, or jax 0.10's AssertionError for a missing plugin)
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else err.__class__.__name__
            raise FinetuneError(f"JAX_PLATFORMS={os.environ['JAX_PLATFORMS']}: JAX cannot use the GPU ({first}); "
                                "install jax with its CUDA plugin (pip install 'jax[cuda13]') and check the driver "
                                "(nvidia-smi), or leave JAX_PLATFORMS unset to run on the CPU") from None
    if backend == "torch" and os.environ.get("KERAS_TORCH_DEVICE", "").startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise FinetuneError(f"KERAS_TORCH_DEVICE={os.environ['KERAS_TORCH_DEVICE']}: torch {torch.__version__} "
                                "sees no usable CUDA device (torch.cuda.is_available() is False); install a CUDA build "
                                "of torch and check the driver (nvidia-smi), or leave KERAS_TORCH_DEVICE unset")


def device_kind(backend: str) -> str:
    """Where Keras 3 on `backend` runs its ops: "gpu" where the backend sees one, else "cpu" (it places them
    itself: the engine has no --device of its own)."""
    if backend == "jax":
        import jax

        return "gpu" if jax.default_backend() in ("gpu", "cuda", "rocm") else "cpu"
    if backend == "torch":
        chosen = os.environ.get("KERAS_TORCH_DEVICE")  # Keras 3's torch backend places everything there
        if chosen:
            return "gpu" if chosen.startswith("cuda") else "cpu"
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def effective(perf: PerfConfig, backend: str) -> PerfConfig:
    """The configuration that runs on `backend` for `perf`: JAX compiles every step with XLA (its only compiled
    path), one program per batch shape, so its lengths are rounded up to JAX_PAD_MULTIPLE; the course's
    configuration elsewhere (no XLA) unless `perf` asks for it."""
    if backend != "jax":
        return perf
    changes = {}
    if perf.padding == "dynamic":
        changes.update(padding="multiple", pad_multiple=JAX_PAD_MULTIPLE)
    elif perf.pad_multiple is None:
        changes["pad_multiple"] = JAX_PAD_MULTIPLE
    runs = dataclasses.replace(perf, jit_compile=False, **changes)
    # set after validation: PerfConfig refuses XLA with mirrored for tf-keras's sake (merge_call); JAX runs both
    object.__setattr__(runs, "jit_compile", True)
    return runs


def unsupported(perf: PerfConfig, backend: str) -> str | None:
    """Why the keras3 engine cannot run `perf` on `backend` (None: it can)."""
    if perf.distribute == "mirrored" and backend != "jax":
        return (f"keras3-{backend}: Keras 3's data-parallel API (keras.distribution.DataParallel) runs on JAX only; "
                "--backend jax")
    if perf.distribute == "multi-worker" and backend != "jax":
        why = {"tensorflow": "Keras 3 does not train under MultiWorkerMirroredStrategy (keras-team/keras#20585)",
               "torch": "Keras 3 has no multi-process API on torch"}.get(backend, "no multi-process API")
        return f"keras3-{backend}: {why}; multi-worker runs on --engine tf-keras or --engine keras3 --backend jax"
    if perf.jit_compile and backend == "torch":
        return "keras3-torch: jit_compile is torch.compile there, not XLA; the torch backend runs eagerly"
    return None


def replica_devices(backend: str) -> list:
    """The devices DataParallel spreads a batch over (JAX's, of its default kind)."""
    if backend != "jax":
        return []
    keras = keras_for(backend)
    return keras.distribution.list_devices()


@contextlib.contextmanager
def configured(config):
    """Process state for building and training `config` (config.perf as it runs on its backend): Keras 3's seed,
    its dtype policy and its distribution, restored after. Yields the replicas."""
    keras = keras_for(config.backend)
    perf = effective(config.perf, config.backend)
    problem = unsupported(perf, config.backend) or unsupported_precision(perf.precision, device_kind(config.backend))
    if problem:
        raise FinetuneError(problem)
    policy, distribution = keras.config.dtype_policy(), keras.distribution.distribution()
    replicas = 1
    try:
        keras.utils.set_random_seed(config.seed)
        keras.config.set_dtype_policy(perf.precision)
        if perf.distribute in ("mirrored", "multi-worker"):  # every process's devices (jax.devices() is global)
            devices = replica_devices(config.backend)
            replicas = len(devices)
            if config.batch_size % replicas:
                raise FinetuneError(f"--batch-size {config.batch_size} does not split over {replicas} replicas: "
                                    f"pass a multiple of {replicas}")
            parallel = keras.distribution.DataParallel(devices=devices)
            parallel.auto_shard_dataset = False  # a worker's batches are its own part already (numpy_batches)
            keras.distribution.set_distribution(parallel)
        yield replicas
    finally:
        keras.config.set_dtype_policy(policy)
        keras.distribution.set_distribution(distribution)


def keras_for(backend: str):
    """Keras 3 on `backend`: set KERAS_BACKEND before its first import, or refuse a process whose Keras already
    runs another backend."""
    os.environ.setdefault("KERAS_BACKEND", backend)
    try:
        import keras
        import keras_hub  # noqa: F401  (installed: a missing one is the same one-line error)
    except ImportError as err:
        raise FinetuneError(f"the keras3 engine needs Keras 3 and keras-hub ({err.name} is missing): "
                            "FINETUNE_EXTRAS=report,keras3 python3 dev.py test (or pip install -e '.[keras3]' and "
                            "pip install --no-deps keras-hub==0.32.0)") from None
    if keras.config.backend() != backend:
        raise FinetuneError(f"Keras 3 in this process runs on {keras.config.backend()}, not {backend}: its backend "
                            f"is fixed at import (KERAS_BACKEND={os.environ.get('KERAS_BACKEND')}); run each backend "
                            "in a process of its own")
    return keras


def build_model(config, prepared, num_train_steps: int):
    """A fresh, compiled classifier (call inside `configured`, which sets the dtype policy it is built with)."""
    perf = effective(config.perf, config.backend)
    keras = keras_for(config.backend)
    import keras_hub

    if prepared.model.source == "random":
        found = models.random_architecture(prepared.model, len(prepared.tokenizer))  # as keras-hub names it
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=found["vocab_size"], num_layers=found["num_hidden_layers"],
            num_heads=found["num_attention_heads"], hidden_dim=found["hidden_size"],
            intermediate_dim=found["intermediate_size"])
    else:
        try:
            backbone = keras_hub.models.BertBackbone.from_preset(str(prepared.model.location))
        except (OSError, ValueError, KeyError) as err:
            raise FinetuneError(f"keras-hub could not convert {prepared.model.location} into a BertBackbone "
                                f"({err.__class__.__name__}: {str(err).splitlines()[0][:200]})") from None
    num_outputs = 1 if prepared.task.is_regression else prepared.task.num_labels
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=num_outputs, preprocessor=None)
    if prepared.task.is_regression:
        loss = keras.losses.MeanSquaredError()
    elif config.loss == "string":
        loss = "sparse_categorical_crossentropy"  # the course's pitfall: Keras takes it to mean probabilities
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if config.optimizer == "linear-decay":
        schedule = keras.optimizers.schedules.PolynomialDecay(PEAK_LEARNING_RATE, num_train_steps,
                                                               end_learning_rate=0.0)
        optimizer = keras.optimizers.Adam(learning_rate=schedule)
    else:
        optimizer = keras.optimizers.Adam()  # "adam": every default, 1e-3
    model.compile(optimizer=optimizer, loss=loss, jit_compile=perf.jit_compile)
    return model


def datasets(config, prepared, split: str | None = None, shuffle_train: bool = True):
    """(train, validation) as keras.utils.PyDataset over finetune.data's numpy batches (no TensorFlow), with
    keras-hub's input names: token_ids, segment_ids, padding_mask; padded as config.perf runs on its backend."""
    train, evaluation = numpy_batches(config, prepared, split, shuffle_train)
    return py_dataset(config.backend, train), py_dataset(config.backend, evaluation)


def numpy_batches(config, prepared, split: str | None = None, shuffle_train: bool = True):
    """(train, validation) as finetune.data.NumpyBatches, padded as config.perf runs on its backend; multi-worker:
    this worker's part of each global batch (Keras 3 makes the global array from each process's part)."""
    from finetune import cluster

    perf = effective(config.perf, config.backend)
    world = cluster.World.from_env()
    shard = (world.index, world.workers) if perf.distribute == "multi-worker" else None
    return data.numpy_batches(prepared, config.batch_size, seed=config.seed, eval_split=split,
                              shuffle_train=shuffle_train, shard=shard, **perf.data_options())


def keras_inputs(features: dict) -> dict:
    """finetune.data's model inputs under keras-hub's names."""
    return {"token_ids": features["input_ids"], "segment_ids": features["token_type_ids"],
            "padding_mask": features["attention_mask"].astype(bool)}


def py_dataset(backend: str, batches):
    """`batches` (len, [i] -> (features, labels), and new_epoch() where it reshuffles) as a keras.utils.PyDataset:
    read in fit()'s own thread (workers=1, no multiprocessing), a new order after each epoch.

    It is given to Keras' own Model.fit and Model.predict (`keras.Model.fit(model, ...)`): keras-hub's PipelineModel
    overrides them to convert every input that is not tf.data or grain, a PyDataset included, through tf.data or
    grain (keras_hub/src/utils/pipeline_model.py), to map a preprocessor over it; this model has none."""
    keras = keras_for(backend)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return len(batches)

        def __getitem__(self, index):
            features, labels = batches[index]
            return keras_inputs(features), labels

        def on_epoch_end(self):
            if hasattr(batches, "new_epoch"):
                batches.new_epoch()

    return Batches()


def predict(model, eval_ds, task) -> np.ndarray:
    import keras  # imported already, on the run's backend (keras_for)

    logits = np.asarray(keras.Model.predict(model, eval_ds, verbose=0))  # Keras' own predict(): see py_dataset
    return logits[:, 0].astype(np.float64) if task.is_regression else np.argmax(logits, axis=-1)


def train(config, prepared, verbose, callbacks: tuple):
    """One fine-tune on Keras 3 (finetune.engines.Trained)."""
    check_device(config)
    with configured(config):
        train_ds, eval_ds = datasets(config, prepared)
        num_train_steps = len(train_ds) * config.epochs
        model = build_model(config, prepared, num_train_steps)
        timer = timer_for(config.backend)
        loaded = time.perf_counter()
        keras_for(config.backend).Model.fit(model, train_ds, epochs=config.epochs, callbacks=[timer, *callbacks],
                                            verbose=verbose)  # Keras' own fit(): see py_dataset
        trained = time.perf_counter()
        if effective(config.perf, config.backend).distribute == "multi-worker":
            model = local_copy(config, prepared, model, num_train_steps)
        predictions = predict(model, eval_ds, prepared.task)
        others = {split: predict(model, datasets(config, prepared, split)[1], prepared.task)
                  for split in prepared.task.eval_splits[1:]}
    return Trained(timer, predictions, others, num_train_steps, loaded, trained, time.perf_counter())


def local_copy(config, prepared, model, num_train_steps: int):
    """The trained model as one process's own: its weights spread over every worker's devices cannot be read back
    in one (jax: "spans non-addressable devices"), so each worker predicts the whole validation set with a model
    built outside the distribution, holding its local copy of the replicated weights (the chief's is reported)."""
    keras = keras_for(config.backend)
    weights = [np.asarray(variable.value.addressable_data(0)) for variable in model.weights]
    keras.distribution.set_distribution(None)  # restored by `configured`
    single = build_model(config, prepared, num_train_steps)
    single.set_weights(weights)
    return single


def check_device(config) -> None:
    """--device must be auto or the kind the backend runs on: Keras 3 places ops itself."""
    kind = device_kind(config.backend)
    if config.device not in ("auto", kind):
        raise FinetuneError(f"keras3-{config.backend} runs on this machine's {kind}, not {config.device}: Keras 3 "
                            "places ops as its backend does; pass --device auto (or leave it out)")


def timer_for(backend: str):
    """finetune.timing.StepRecorder as a Keras 3 callback."""
    keras = keras_for(backend)

    class Timer(StepRecorder, keras.callbacks.Callback):
        pass

    return Timer()


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
        self.collective = (Keras3(self.config.backend).collective()
                           if self.config.perf.distribute == "multi-worker" else None)
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

        class Passes(StepRecorder, keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if bench._requests.get() is None:
                    raise _Stop()
                super().on_epoch_begin(epoch, logs)

            def on_epoch_end(self, epoch, logs=None):
                super().on_epoch_end(epoch, logs)
                bench._finished.put((self.epoch_s[-1], len(self.step_times_s)))

        try:
            with configured(self.config):
                keras.Model.fit(self.model, self._dataset, epochs=10 ** 9, verbose=0, callbacks=[Passes()])
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
                                            tf32_enabled=self.config.backend != "torch")

