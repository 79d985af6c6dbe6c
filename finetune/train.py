"""One fine-tune, as in the course: compile(), fit(), predict() -> argmax -> GLUE metrics."""

from __future__ import annotations

import contextlib
import datetime
import time
from dataclasses import dataclass

import numpy as np

from finetune import calibration as calibrate
from finetune import data, environment, memory, metrics, models, perf, runtime
from finetune.config import RunConfig
from finetune.errors import FinetuneError
from finetune.recipes import LOSSES, OPTIMIZERS, REGRESSION_LOSSES
from finetune.result import Result
from finetune.timing import StepTimer, fit_time, steady_state


def build_model(config: RunConfig, prepared: data.PreparedData, num_train_steps: int):
    """A fresh, compiled classifier for `config`'s loss and optimizer (call inside runtime.configured, which
    sets the precision policy and the strategy the model is built under); XLA when config.perf asks for it."""
    model = models.load_model(prepared.model, prepared.task.num_labels, len(prepared.tokenizer))
    loss = (REGRESSION_LOSSES if prepared.task.is_regression else LOSSES)[config.loss]()
    if config.perf.precision != "float32":
        loss = perf.float32_logits(loss)
    xla = {"jit_compile": True} if config.perf.jit_compile else {}  # the course's compile() call otherwise
    optimizer = OPTIMIZERS[config.optimizer](num_train_steps, jit_compile=optimizer_jit_compile(config))
    model.compile(optimizer=optimizer, loss=loss, **xla)
    return model


def optimizer_jit_compile(config: RunConfig) -> bool:
    """XLA for the optimizer's update where tf-keras would choose it on this device kind: on GPU runs (its default
    whenever a GPU is listed), never on CPU runs, whatever else the host has."""
    return runtime.device_kind(config.device) == "gpu"


MEASURE = "measure"


@dataclass(frozen=True)
class Trained:
    """What an engine's fine-tune gives back: the step timer, the predictions of each validation split, the
    schedule's length, and the clock at the end of loading, training and predicting."""
    timer: object
    predictions: np.ndarray  # of the headline validation split
    others: dict  # split -> predictions, of the task's other validation splits (MNLI: mismatched)
    num_train_steps: int
    loaded: float
    trained: float
    predicted: float


def train(config: RunConfig, prepared: data.PreparedData, verbose, callbacks: tuple) -> Trained:
    """The tf-keras engine (the course's): transformers' TF model, compile(), fit(), predict()."""
    with session(config, prepared) as run:
        timer = StepTimer()
        loaded = time.perf_counter()
        run.model.fit(run.train_ds, epochs=config.epochs, callbacks=[timer, *callbacks], verbose=verbose)
        trained = time.perf_counter()
        predictions = predict(run.model, run.eval_ds, prepared.task)
        # the other validation splits (MNLI: validation_mismatched), through the same padding
        others = {split: predict(run.model, data.tf_datasets(prepared, config.batch_size, shuffle_train=False,
                                                             eval_split=split, **config.perf.data_options())[1],
                                 prepared.task)
                  for split in prepared.task.eval_splits[1:]}
        return Trained(timer, predictions, others, run.num_train_steps, loaded, trained, time.perf_counter())


@dataclass(frozen=True)
class Session:
    """A training session set up: the strategy (None without distribution), the tf.data pipelines and the
    compiled model."""

    strategy: object
    train_ds: object
    eval_ds: object
    model: object
    num_train_steps: int


@contextlib.contextmanager
def session(config: RunConfig, prepared: data.PreparedData, shuffle_train: bool = True, host=None):
    """The one set-up path of a training session, for fit() (finetune) and for prepared batches (StepBench):
    process state for the block (runtime.configured: seeds, placement, precision, strategy), the datasets with
    config.perf's padding, and the model compiled with the recipe's loss and optimizer. host: the described
    machine whose capabilities decide which precisions run (default: this one; tests pass one in)."""
    with runtime.configured(config.seed, config.device, config.perf.precision, config.perf.distribute,
                            host=host) as strategy:
        perf.check_global_batch(config.batch_size, strategy)
        train_ds, eval_ds = data.tf_datasets(prepared, config.batch_size, shuffle_train=shuffle_train,
                                             seed=config.seed, **config.perf.data_options())
        num_train_steps = len(train_ds) * config.epochs
        yield Session(strategy, train_ds, eval_ds, build_model(config, prepared, num_train_steps), num_train_steps)


def finetune(config: RunConfig, prepared: data.PreparedData | None = None, verbose="auto",
             model_choice: str = "as requested", perf_choice: str = "as configured",
             calibration: dict | str | None = None, callbacks: tuple = ()) -> Result:
    """One fine-tune. calibration: the session's (finetune.calibration), recorded with the result; MEASURE: time
    it here, after the data is loaded (a bad input is reported before TensorFlow starts its devices).
    callbacks: more Keras callbacks for fit(), after the step timer (e.g. the harness's planted slowdown)."""
    started = time.perf_counter()
    if prepared is None:
        prepared = data.prepare(config)
    elif prepared.model.name != config.model or prepared.task.name != config.task:
        raise ValueError("prepared data belongs to another model or task")

    if calibration == MEASURE:
        calibration = calibrate.measure(runtime.device_kind(config.device))
    scope = memory.reset()  # after the data: a bad input is reported before TensorFlow looks for GPUs
    if config.engine == "keras3":  # Keras 3 + keras-hub on config.backend (finetune/keras3.py)
        from finetune import keras3

        run = keras3.train(config, prepared, verbose, callbacks)
    else:
        run = train(config, prepared, verbose, callbacks)
    timer, predictions, others = run.timer, run.predictions, run.others
    loaded, trained, predicted = run.loaded, run.trained, run.predicted

    labels = np.asarray(prepared.eval_labels)
    if len(predictions) != len(labels):
        raise FinetuneError(f"predicted {len(predictions)} rows for {len(labels)} labels: the eval pipeline lost rows")
    scores, metric_source = metrics.glue_scores(prepared.task, predictions, labels)
    eval_scores = {prepared.eval_split: scores}
    for split, predicted_rows in others.items():
        eval_scores[split] = metrics.glue_scores(prepared.task, predicted_rows,
                                                 np.asarray(prepared.tokenized[split]["label"]))[0]
    classes = not prepared.task.is_regression
    step = steady_state(timer.step_times_s, skip=config.warmup_steps)
    fit = fit_time(timer.epoch_s, timer.step_times_s, step)
    rows = len(prepared.tokenized["train"])
    return Result(
        config=config.__dict__.copy(),
        model={"name": prepared.model.name, "source": prepared.model.source,
               "location": prepared.model.location, "choice": model_choice},
        perf_choice=perf_choice,
        data_source=prepared.source,
        num_train_examples=len(prepared.tokenized["train"]),
        num_eval_examples=len(labels),
        num_train_steps=run.num_train_steps,
        # accuracy for every classification task (CoLA's GLUE metric is Matthews' but "did not learn" is told by
        # accuracy against the majority class), F1 where the task's GLUE metric has it
        accuracy=float(np.mean(predictions == labels)) if classes else None,
        f1=scores.get("f1"),
        metric_source=metric_source,
        collapsed=metrics.collapsed(predictions, prepared.task.num_labels),
        majority_accuracy=metrics.majority_accuracy(labels) if classes else None,
        epoch_losses=timer.epoch_losses,
        step_losses=timer.step_losses,
        step_time=step.to_dict(),
        fit=fit.to_dict(),
        examples_per_s=rows * config.epochs / sum(fit.epoch_s),
        peak_rss_mb=memory.peak(scope)["peak_rss_mb"],
        wall_time_s={"load": loaded - started, "train": trained - loaded,
                     "predict": predicted - trained, "total": predicted - started},
        versions=environment.versions(config.engine),
        hardware=environment.hardware(),
        measured_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        calibration=calibration,
        task=prepared.task.name,
        scores=scores,
        eval_scores=eval_scores,
    )


def predict(model, eval_ds, task) -> np.ndarray:
    """The model's predictions: argmax of the logits (a class id), or the one output of a regression (a score)."""
    logits = model.predict(eval_ds, verbose=0)["logits"]
    return logits[:, 0].astype(np.float64) if task.is_regression else np.argmax(logits, axis=-1)
