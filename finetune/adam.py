"""The optimizer's update: Adam with the recipe's hyperparameters (finetune/recipes.py), applied three ways.

- `dense`, the course's: tf-keras's Adam, one TensorFlow op per arithmetic step of each variable's update (m, v, the
  weight: about a dozen ops and 7 passes over memory per variable), on every variable. The word embedding's gradient
  is sparse (a batch touches a few hundred of its 30,522 rows), yet m and v decay on every row and every row moves.
- `fused`: the legacy optimizer's Adam (tf_keras.optimizers.legacy.Adam): the same formula, alpha = lr x
  sqrt(1 - beta_2^t) / (1 - beta_1^t), the weight less alpha x m / (sqrt(v) + epsilon), as one kernel per dense
  variable (ResourceApplyAdam); the sparse gradient as the dense one's decay then a scatter, as `dense` does. Other
  rounding, not other arithmetic: tests/test_updates.py checks it against `dense` on every variable.
- `lazy`: the dense variables as `dense` (tf-keras's Adam); the sparse gradients (the word embedding) update only the rows the batch touched, their m, v and weights (TensorFlow Addons' LazyAdam, PyTorch's
  SparseAdam): rows not in the batch keep their moments and do not move. Other arithmetic: a row's moments decay only
  when it is seen. The word embedding is more than half of minilm-l6's weights, so this skips most of the update.
"""

from __future__ import annotations

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

UPDATES = ("dense", "fused", "lazy")


def adam(update: str, learning_rate=0.001, jit_compile: bool = False):
    """Adam with `learning_rate` (a float or a schedule) and tf-keras's other defaults, updating as `update` says."""
    import tf_keras as keras

    if update == "dense":
        return keras.optimizers.Adam(learning_rate=learning_rate, jit_compile=jit_compile)
    if update == "fused":
        return keras.optimizers.legacy.Adam(learning_rate=learning_rate)  # its kernels are fused already
    if update == "lazy":
        # no XLA: the rows of a batch (tf.unique) have a shape XLA cannot compile for
        return lazy_adam_class()(learning_rate=learning_rate, jit_compile=False)
    raise ValueError(f"unknown update {update!r}: choose one of {', '.join(UPDATES)}")


_LAZY = None


def lazy_adam_class():
    """tf-keras's Adam whose sparse updates touch only the batch's rows (made on first use: it imports TensorFlow)."""
    global _LAZY
    if _LAZY is not None:
        return _LAZY
    import tensorflow as tf
    import tf_keras as keras

    class LazyAdam(keras.optimizers.Adam):
        """Adam; for an IndexedSlices gradient only the rows it names: their m and v decay and take the gradient,
        and only they move (duplicate indices summed first, as the dense gradient would hold them)."""

        def update_step(self, gradient, variable):
            if not isinstance(gradient, tf.IndexedSlices):
                return super().update_step(gradient, variable)
            dtype = variable.dtype
            lr = tf.cast(self.learning_rate, dtype)
            local_step = tf.cast(self.iterations + 1, dtype)
            beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
            alpha = lr * tf.sqrt(1 - tf.pow(beta_2, local_step)) / (1 - tf.pow(beta_1, local_step))
            rows, position = tf.unique(gradient.indices)
            values = tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(rows)[0])
            key = self._var_key(variable)
            m = self._momentums[self._index_dict[key]]
            v = self._velocities[self._index_dict[key]]
            m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
            v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
            m.scatter_update(tf.IndexedSlices(m_rows, rows))
            v.scatter_update(tf.IndexedSlices(v_rows, rows))
            variable.scatter_sub(tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))

    _LAZY = LazyAdam
    return _LAZY


def bytes_per_step(model, update: str, batches) -> dict:
    """What one update of `model`'s trainable weights moves in memory, as finetune/bandwidth.py's floor counts it:
    28 bytes a weight (ADAM_BYTES_PER_WEIGHT) for `dense` and `fused`; for `lazy`, the word embedding (the largest
    variable whose rows are token ids) only at the rows a batch holds (their mean over `batches`, (features, labels)
    pairs with "input_ids"), the rest dense. {"update_bytes", "weights", "rows_touched"} (rows: lazy only)."""
    import numpy as np

    from finetune.bandwidth import ADAM_BYTES_PER_WEIGHT

    sizes = [(int(np.prod(v.shape)), tuple(v.shape)) for v in model.trainable_variables]
    weights = sum(size for size, _ in sizes)
    found = {"weights": weights, "update_bytes": float(ADAM_BYTES_PER_WEIGHT * weights)}
    if update != "lazy":
        return found
    table = max((s for s in sizes if len(s[1]) == 2), key=lambda s: s[1][0])  # the word embedding: most rows
    rows = float(np.mean([len(np.unique(np.asarray(x["input_ids"]))) for x, _ in batches]))
    found["rows_touched"] = round(rows, 1)
    found["update_bytes"] = float(ADAM_BYTES_PER_WEIGHT * (weights - table[0] + rows * table[1][1]))
    return found
