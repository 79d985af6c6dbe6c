"""The course's two pitfalls as tables: how the loss is given, and which optimizer is used.

Each entry is a function so that a fresh Keras object is made per run (optimizers hold state). Optimizers take
`jit_compile` explicitly: tf-keras turns XLA on for the optimizer update whenever any GPU is listed
(tf_keras/src/optimizers/optimizer.py), so a CPU-pinned run on a GPU host would otherwise run another
computation than the same run on a CPU-only host.
"""

from __future__ import annotations

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

PEAK_LEARNING_RATE = 5e-5  # the course's starting rate for the linear decay


def _string_loss():
    # The course's pitfall: Keras takes the string to mean "the model outputs probabilities",
    # but transformers' models output logits.
    return "sparse_categorical_crossentropy"


def _from_logits_loss():
    import tf_keras as keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _adam(num_train_steps: int, jit_compile: bool = False, update: str = "dense"):
    # The course's other pitfall: Keras' default Adam learning rate is 1e-3. This is what compile(optimizer="adam")
    # builds (keras.optimizers.get("adam"): Adam with every default), with only XLA set explicitly; `update`: how it
    # applies (finetune/adam.py; dense is the course's).
    from finetune import adam

    return adam.adam(update, jit_compile=jit_compile)


def linear_decay_schedule(num_train_steps: int):
    import tf_keras as keras

    return keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=PEAK_LEARNING_RATE, end_learning_rate=0.0, decay_steps=num_train_steps
    )


def _linear_decay(num_train_steps: int, jit_compile: bool = False, update: str = "dense"):
    from finetune import adam

    return adam.adam(update, learning_rate=linear_decay_schedule(num_train_steps), jit_compile=jit_compile)


LOSSES = {
    "string": _string_loss,
    "from_logits": _from_logits_loss,
}

# Each takes the schedule length, num_train_steps = len(train batches) * epochs, whether the update uses XLA, and
# how it applies (finetune/adam.py).
OPTIMIZERS = {
    "adam": _adam,
    "linear-decay": _linear_decay,
}


def _mse():
    import tf_keras as keras

    return keras.losses.MeanSquaredError()


# A regression task (STS-B: one output, a float score) has no logits pitfall: both ways of giving the loss are
# mean squared error, as transformers' models compute it for num_labels == 1.
REGRESSION_LOSSES = {
    "string": lambda: "mean_squared_error",
    "from_logits": _mse,
}
