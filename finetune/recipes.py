"""The course's two pitfalls as tables: how the loss is given, and which optimizer is used.

Each entry is a function so that a fresh Keras object is made per run (optimizers hold state).
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


def _adam(num_train_steps: int):
    # The course's other pitfall: Keras' default Adam learning rate is 1e-3.
    return "adam"


def linear_decay_schedule(num_train_steps: int):
    import tf_keras as keras

    return keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=PEAK_LEARNING_RATE, end_learning_rate=0.0, decay_steps=num_train_steps
    )


def _linear_decay(num_train_steps: int):
    import tf_keras as keras

    return keras.optimizers.Adam(learning_rate=linear_decay_schedule(num_train_steps))


LOSSES = {
    "string": _string_loss,
    "from_logits": _from_logits_loss,
}

# Each takes the schedule length, num_train_steps = len(train batches) * epochs.
OPTIMIZERS = {
    "adam": _adam,
    "linear-decay": _linear_decay,
}
