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
Keras 3 fixes its backend when it is first imported (KERAS_BACKEND): one backend per process.
"""

from __future__ import annotations

import os
import time

import numpy as np

from finetune import data
from finetune.errors import FinetuneError
from finetune.models import TINY_CONFIG
from finetune.perf import COURSE
from finetune.recipes import PEAK_LEARNING_RATE
from finetune.timing import StepRecorder

JAX_PAD_MULTIPLE = 8
JIT_COMPILE = {"jax": True, "tensorflow": False, "torch": False}


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
    keras = keras_for(config.backend)
    import keras_hub

    if prepared.model.source == "random":
        backbone = keras_hub.models.BertBackbone(  # models.TINY_CONFIG, as keras-hub names it
            vocabulary_size=len(prepared.tokenizer), num_layers=TINY_CONFIG["num_hidden_layers"],
            num_heads=TINY_CONFIG["num_attention_heads"], hidden_dim=TINY_CONFIG["hidden_size"],
            intermediate_dim=TINY_CONFIG["intermediate_size"])
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
    model.compile(optimizer=optimizer, loss=loss, jit_compile=JIT_COMPILE[config.backend])
    return model


def datasets(config, prepared, split: str | None = None):
    """(train, validation) as keras-hub's inputs: token_ids, segment_ids, padding_mask."""
    import tensorflow as tf

    multiple = JAX_PAD_MULTIPLE if config.backend == "jax" else None
    train, evaluation = data.tf_datasets(prepared, config.batch_size, pad_to_multiple_of=multiple,
                                         padding="multiple" if multiple else "dynamic", seed=config.seed,
                                         eval_split=split)

    def renamed(features, labels):
        return ({"token_ids": features["input_ids"], "segment_ids": features["token_type_ids"],
                 "padding_mask": tf.cast(features["attention_mask"], tf.bool)}, labels)

    return train.map(renamed), evaluation.map(renamed)


def predict(model, eval_ds, task) -> np.ndarray:
    logits = np.asarray(model.predict(eval_ds, verbose=0))
    return logits[:, 0].astype(np.float64) if task.is_regression else np.argmax(logits, axis=-1)


def train(config, prepared, verbose, callbacks: tuple):
    """One fine-tune on Keras 3 (finetune.train.Trained)."""
    from finetune.train import Trained

    if config.perf != COURSE:
        raise FinetuneError("the keras3 engine runs the course's configuration only (--perf course); its own XLA "
                            f"choice: {JIT_COMPILE}")
    if config.device != "auto":
        raise FinetuneError("the keras3 engine places ops as its backend does: leave --device out")
    keras = keras_for(config.backend)
    keras.utils.set_random_seed(config.seed)
    train_ds, eval_ds = datasets(config, prepared)
    num_train_steps = len(train_ds) * config.epochs
    model = build_model(config, prepared, num_train_steps)

    class Timer(StepRecorder, keras.callbacks.Callback):
        pass

    timer = Timer()
    loaded = time.perf_counter()
    model.fit(train_ds, epochs=config.epochs, callbacks=[timer, *callbacks], verbose=verbose)
    trained = time.perf_counter()
    predictions = predict(model, eval_ds, prepared.task)
    others = {split: predict(model, datasets(config, prepared, split)[1], prepared.task)
              for split in prepared.task.eval_splits[1:]}
    return Trained(timer, predictions, others, num_train_steps, loaded, trained, time.perf_counter())
