"""The keras3 engine's fine-tune: keras-hub's BertBackbone under BertTextClassifier's head, compiled with the recipe's
loss and optimizer, Keras' own fit() with the step timer and the hooks (finetune.hooks), and predict()."""

from __future__ import annotations

import time

import numpy as np

from finetune import models
from finetune.engines.base import Trained
from finetune.engines.keras3_data import datasets
from finetune.engines.keras3_process import check_device, configured, keras_for
from finetune.engines.keras3_variants import effective
from finetune.engines.keras_callbacks import keras_callbacks
from finetune.errors import FinetuneError
from finetune.recipes import PEAK_LEARNING_RATE
from finetune.step_recorder import StepRecorder


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
        timer = StepRecorder()
        keras = keras_for(config.backend)
        loaded = time.perf_counter()
        keras.Model.fit(model, train_ds, epochs=config.epochs, verbose=verbose,  # Keras' own fit(): see py_dataset
                        callbacks=keras_callbacks(keras.callbacks.Callback, [timer, *callbacks]))
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
