"""Process-wide state for one run, set in one place from the config: seeds and device placement."""

from __future__ import annotations

import contextlib

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from finetune.errors import FinetuneError


def logical_device(kind: str):
    """TensorFlow's first logical device of `kind` ("cpu" or "gpu"), or a clear error."""
    import tensorflow as tf

    found = tf.config.list_logical_devices(kind.upper())
    if not found:
        raise FinetuneError(f"--device {kind}: TensorFlow sees no {kind.upper()}; use --device cpu or auto")
    return found[0]


@contextlib.contextmanager
def configured(seed: int, device: str = "auto"):
    """Seed Python, NumPy and TensorFlow, and pin ops and variables to `device` (auto: TF decides)."""
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    placement = contextlib.nullcontext() if device == "auto" else tf.device(logical_device(device).name)
    with placement:
        yield
