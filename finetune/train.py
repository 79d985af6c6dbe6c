"""One fine-tune, as in the course: data -> the engine's session -> fit() -> predict() -> GLUE metrics -> Result.
The engine (finetune/engines) does what is framework-specific; this is the recipe every engine shares."""

from __future__ import annotations

import datetime
import time

import numpy as np

from finetune import calibration as calibrate
from finetune import cluster, compile_cache, data, engines, environment, memory, metrics
from finetune.config import RunConfig
from finetune.errors import FinetuneError
from finetune.result import Result
from finetune.step_recorder import fit_time, steady_state


MEASURE = "measure"


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

    engine = engines.get(config.engine, config.backend)
    cluster.check(config.perf.distribute, cluster.World.from_env())
    if calibration == MEASURE:
        calibration = calibrate.measure(engine.device_kind(config.device if config.device != "auto" else None),
                                        backend=engine.array_backend)
    scope = memory.reset(engine.array_backend)  # after the data: a bad input is reported before a framework starts
    cache = compile_cache.Snapshot.take()
    run = engine.train(config, prepared, verbose, callbacks)
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
        peak_rss_mb=memory.peak(scope, engine.array_backend)["peak_rss_mb"],
        wall_time_s={"load": loaded - started, "train": trained - loaded,
                     "predict": predicted - trained, "total": predicted - started},
        versions=engine.versions(),
        hardware=environment.hardware(),
        measured_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        calibration=calibration,
        task=prepared.task.name,
        scores=scores,
        eval_scores=eval_scores,
        compile_cache=cache.label(compiles=engine.compiles_with_xla(config)),
    )

