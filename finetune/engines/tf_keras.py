"""The tf-keras engine, the course's: transformers' TF model on tf-keras 2 (TF_USE_LEGACY_KERAS=1, set by
`import finetune`), compile(), fit(), predict(); tf.data batches; devices through TensorFlow."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np

from finetune import flops, models, perf, runtime
from finetune.engines.base import Engine, Trained
from finetune.engines.keras_callbacks import keras_callbacks
from finetune.errors import FinetuneError
from finetune.hardware import Host
from finetune.recipes import LOSSES, OPTIMIZERS, REGRESSION_LOSSES
from finetune.steptime import Described
from finetune.step_recorder import StepRecorder


class TfKeras(Engine):
    name = "tf-keras"
    speed_targets = True  # perf.BEST_BY_HOST's targets were measured on this engine
    array_backend = "tensorflow"
    libraries = ("tensorflow", "tf_keras") + Engine.libraries  # the records' order since before engines

    @classmethod
    def validate(cls, backend):
        if backend is not None:
            raise FinetuneError(f"--backend {backend} is for --engine keras3; tf-keras runs on TensorFlow: "
                                "leave --backend out, or pass --engine keras3")

    def prepare_process(self) -> None:
        from finetune import cluster

        if cluster.World.from_env().distributed:
            runtime.multi_worker_strategy()  # before TensorFlow's first op: collectives are configured once

    def compiles_with_xla(self, config) -> bool:
        """The training step's XLA (--jit-compile), or the optimizer's, which tf-keras compiles on GPU runs."""
        return bool(config.perf.jit_compile) or optimizer_jit_compile(config)

    def profiler(self) -> tuple:
        import tensorflow as tf

        return tf.profiler.experimental.start, tf.profiler.experimental.stop

    def clear_session(self) -> None:
        import tf_keras

        tf_keras.backend.clear_session()

    def train(self, config, prepared, verbose, callbacks: tuple) -> Trained:
        from finetune import data

        with session(config, prepared) as run:
            timer = step_timer()
            loaded = time.perf_counter()
            run.model.fit(run.train_ds, epochs=config.epochs, steps_per_epoch=run.steps_per_epoch,
                          callbacks=keras_callbacks(callback_class(), [timer, *callbacks]), verbose=verbose)
            trained = time.perf_counter()
            predictions = predict(run.model, run.eval_ds, prepared.task, local=run.steps_per_epoch is not None)
            # the other validation splits (MNLI: validation_mismatched), through the same padding
            others = {split: predict(run.model, data.tf_datasets(prepared, config.batch_size, shuffle_train=False,
                                                                 eval_split=split, **config.perf.data_options())[1],
                                     prepared.task)
                      for split in prepared.task.eval_splits[1:]}
            return Trained(timer, predictions, others, run.num_train_steps, loaded, trained, time.perf_counter())

    def step_bench(self, config, prepared, batches: int):
        return StepBench(config, prepared, batches)

    def replicas(self, device: str) -> int:
        return len(runtime.replica_devices(device))  # a MirroredStrategy's: every logical device of the kind

    def unsupported(self, perf) -> str | None:
        return None  # every variant: tf.distribute's strategies run mirrored and multi-worker

    def collective(self, kind: str | None = None) -> str | None:
        return runtime.multi_worker_collective(kind)

    def flags(self) -> list[str]:
        return []  # the default: what revisions from before engines take (bench/timing/timed_process.py under the A/B mode)


def callback_class() -> type:
    """tf-keras's Callback, which fit() takes the hooks as (finetune/engines/keras_callbacks.py)."""
    import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
    import tf_keras

    return tf_keras.callbacks.Callback


def step_timer() -> StepRecorder:
    """The step timer of a fine-tune (a function of the module: tests/kill_worker.py replaces it)."""
    return StepRecorder()


def build_model(config, prepared, num_train_steps: int):
    """A fresh, compiled classifier for `config`'s loss and optimizer (call inside runtime.configured, which
    sets the precision policy and the strategy the model is built under); XLA when config.perf asks for it."""
    model = models.load_model(prepared.model, prepared.task.num_labels, len(prepared.tokenizer))
    loss = (REGRESSION_LOSSES if prepared.task.is_regression else LOSSES)[config.loss]()
    if config.perf.precision != "float32":
        loss = perf.float32_logits(loss)
    xla = {"jit_compile": True} if config.perf.jit_compile else {}  # the course's compile() call otherwise
    optimizer = OPTIMIZERS[config.optimizer](num_train_steps, jit_compile=optimizer_jit_compile(config),
                                             update=config.perf.update)
    model.compile(optimizer=optimizer, loss=loss, **xla)
    if config.perf.distribute == "multi-worker":
        # fit()'s logs: tf-keras's "auto" sums the workers' values of metrics that are synchronised already, so
        # the loss read 2x on 2 workers; the first (local) replica's value is the world's
        model.distribute_reduction_method = "first"
    return model


def optimizer_jit_compile(config) -> bool:
    """XLA for the optimizer's update where tf-keras would choose it on this device kind: on GPU runs (its default
    whenever a GPU is listed), never on CPU runs, whatever else the host has."""
    return runtime.device_kind(config.device) == "gpu"


@dataclass(frozen=True)
class Session:
    """A training session set up: the strategy (None without distribution), the tf.data pipelines and the
    compiled model."""

    strategy: object
    train_ds: object
    eval_ds: object
    model: object
    num_train_steps: int
    steps_per_epoch: int | None = None  # given to fit() where train_ds has no length (multi-worker's DatasetCreator)


@contextlib.contextmanager
def session(config, prepared, shuffle_train: bool = True, host=None):
    """The one set-up path of a training session, for fit() (TfKeras.train) and for prepared batches (StepBench):
    process state for the block (runtime.configured: seeds, placement, precision, strategy), the datasets with
    config.perf's padding, and the model compiled with the recipe's loss and optimizer. host: the described
    machine whose capabilities decide which precisions run (default: this one; tests pass one in)."""
    from finetune import data

    with runtime.configured(config.seed, config.device, config.perf.precision, config.perf.distribute,
                            host=host) as strategy:
        perf.check_global_batch(config.batch_size, strategy)
        train_ds, eval_ds = data.tf_datasets(prepared, config.batch_size, shuffle_train=shuffle_train,
                                             seed=config.seed, **config.perf.data_options())
        steps_per_epoch = None
        if config.perf.distribute == "multi-worker":
            train_ds, steps_per_epoch = worker_dataset(config, prepared, shuffle_train)
        num_train_steps = (steps_per_epoch or len(train_ds)) * config.epochs
        yield Session(strategy, train_ds, eval_ds, build_model(config, prepared, num_train_steps), num_train_steps,
                      steps_per_epoch)


def worker_dataset(config, prepared, shuffle_train: bool):
    """This worker's part of every global batch (data.NumpyBatches' shard), given to fit() through a
    DatasetCreator: tf.distribute then neither shards nor rebatches it (its AUTO sharding would make every worker
    read every row and drop the others'). Returns (the creator, steps per epoch)."""
    import tf_keras

    from finetune import data

    batches = worker_batches(config, prepared, shuffle_train)
    creator = tf_keras.utils.experimental.DatasetCreator(lambda context: data.tf_pipeline(batches).repeat())
    return creator, len(batches)


def worker_batches(config, prepared, shuffle_train: bool):
    """This worker's part of every global batch of the training split, as data.NumpyBatches."""
    from finetune import cluster, data

    world = cluster.World.from_env()
    options = config.perf.data_options()
    collator = data.collator_for(prepared, options["padding"], options["pad_to_multiple_of"])("np")
    return data.NumpyBatches(prepared.tokenized["train"], collator, config.batch_size, shuffle=shuffle_train,
                             seed=config.seed, group_by_length=config.perf.groups_by_length,
                             shard=(world.index, world.workers))


def predict(model, eval_ds, task, local: bool = False) -> np.ndarray:
    """The model's predictions: argmax of the logits (a class id), or the one output of a regression (a score).
    local: every batch through the model in this process (a multi-worker run: each worker predicts the whole
    validation set with its copy of the weights, no collectives; the chief's are the ones reported)."""
    if local:
        logits = np.concatenate([model(features, training=False)["logits"].numpy() for features, _ in eval_ds])
    else:
        logits = model.predict(eval_ds, verbose=0)["logits"]
    return logits[:, 0].astype(np.float64) if task.is_regression else np.argmax(logits, axis=-1)


class StepBench(Described):
    """The prepared batches of one configuration, stepped through as fit() steps them: one (distributed)
    iterator over the cached batches, built once, and the model's own train function called on it each step.
    (`train_on_batch` would build a new one-batch dataset, and under a strategy a new multi-device iterator,
    for every step: set-up that fit() does not pay and that made prepared-batch figures bimodal.)"""

    def __init__(self, config, prepared, num_batches: int):
        from finetune import data

        self.config = config
        with session(config, prepared, shuffle_train=False) as run:
            multi_worker = config.perf.distribute == "multi-worker"
            train_ds = data.tf_pipeline(worker_batches(config, prepared, False)) if multi_worker else run.train_ds
            cached = train_ds.take(num_batches).cache()
            self.batches = [(x, y) for x, y in cached]  # materialised (and cached) before timing
            self.model = run.model
            repeated = cached.repeat()
            if multi_worker:  # this worker's own part of each global batch: no auto-sharding, no rebatching
                repeated = run.strategy.distribute_datasets_from_function(lambda context: repeated)
            elif run.strategy is not None:
                repeated = run.strategy.experimental_distribute_dataset(repeated)
            self._iterator = iter(repeated)
            self._train_function = self.model.make_train_function()
        strategy = run.strategy
        self._strategy = strategy
        self.collective = runtime.multi_worker_collective() if multi_worker else None
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
        """Nothing runs between passes here (the keras3 engine's StepBench ends its fit())."""

    def allreduce_ms(self, rounds: int = 5) -> tuple:
        """(ms, how) of one all-reduce of every gradient, timed alone: a sum over the workers of tensors shaped as
        the model's trainable weights, packed as tf-keras' optimizer packs them (the replica context's
        all_reduce of the list). (None, why) without a multi-worker strategy."""
        import tensorflow as tf

        if self.collective is None:
            return None, "no collectives: one process"
        strategy = self._strategy
        with strategy.scope():
            gradients = [tf.zeros_like(v) for v in self.model.trainable_variables]

        @tf.function
        def reduce():
            def replica():
                summed = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, gradients)
                return tf.add_n([tf.reduce_sum(g) for g in summed])  # one scalar: the values are read back
            return strategy.run(replica)

        float(reduce())  # traced, and the collective's group set up
        started = time.perf_counter()
        for _ in range(rounds):
            float(reduce())
        ms = 1000.0 * (time.perf_counter() - started) / rounds
        size = sum(int(np.prod(v.shape)) for v in self.model.trainable_variables)
        return ms, (f"{self.collective} all-reduce of {size:,} float32 gradients ({4 * size / 2 ** 20:.0f} MiB), "
                    f"mean of {rounds} after one untimed")

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
