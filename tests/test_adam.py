"""finetune/adam.py: the fused update is the course's op-by-op Adam to float tolerance on every variable, the word
embedding's sparse gradient included; the lazy update moves only the rows a batch touched, by LazyAdam's formula."""

import numpy as np
import pytest

import finetune  # noqa: F401
from finetune import adam

VOCAB, WIDTH = 40, 6


def tiny_model(seed: int):
    """An embedding lookup (its gradient: IndexedSlices), a dense layer and a 2-way head: the shape of the update's
    problem in a BERT classifier."""
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((5,), dtype="int32")
    hidden = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(VOCAB, WIDTH)(inputs))
    outputs = keras.layers.Dense(2)(keras.layers.Dense(8, activation="tanh")(hidden))
    return keras.Model(inputs, outputs)


def batches(steps: int = 6):
    rng = np.random.default_rng(0)
    # rows 0-19 only: rows 20-39 are never touched; repeated ids in a row and across rows (duplicate indices)
    return [(rng.integers(0, 20, size=(4, 5)).astype("int32"), rng.integers(0, 2, size=4)) for _ in range(steps)]


def trained(update: str, learning_rate=0.01, steps: int = 6):
    import tensorflow as tf
    import tf_keras as keras

    model = tiny_model(seed=3)
    optimizer = adam.adam(update, learning_rate=learning_rate)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    gradients = []
    for x, y in batches(steps):
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        grads = tape.gradient(value, model.trainable_variables)
        gradients.append(grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return model, gradients


def test_the_embedding_gradient_is_sparse_as_in_bert():
    import tensorflow as tf

    _, gradients = trained("dense", steps=1)
    assert isinstance(gradients[0][0], tf.IndexedSlices) and not any(
        isinstance(g, tf.IndexedSlices) for g in gradients[0][1:])


def test_the_fused_update_is_the_courses_on_every_variable_to_float_tolerance():
    dense, _ = trained("dense")
    fused, _ = trained("fused")
    start = tiny_model(seed=3)
    for before, a, b in zip(start.trainable_variables, dense.trainable_variables, fused.trainable_variables):
        moved = np.abs(a.numpy() - before.numpy()).max()
        assert moved > 1e-3, f"{a.name} did not train: the comparison would prove nothing"
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.name)


def test_the_fused_update_with_the_courses_schedule_is_the_courses():
    from finetune import recipes

    schedule = recipes.linear_decay_schedule(6)
    dense, _ = trained("dense", learning_rate=schedule)
    fused, _ = trained("fused", learning_rate=recipes.linear_decay_schedule(6))
    for a, b in zip(dense.trainable_variables, fused.trainable_variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.name)


def lazy_reference(steps: int = 6, lr: float = 0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """LazyAdam's embedding in numpy, from the dense run's own gradients: the touched rows' moments and weights."""
    model, gradients = trained("lazy", learning_rate=lr, steps=steps)
    start = tiny_model(seed=3).trainable_variables[0].numpy().astype(np.float64)
    weight, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, grads in enumerate(gradients, start=1):
        g = np.zeros_like(start)
        np.add.at(g, grads[0].indices.numpy(), grads[0].values.numpy())
        rows = np.unique(grads[0].indices.numpy())
        m[rows] = beta_1 * m[rows] + (1 - beta_1) * g[rows]
        v[rows] = beta_2 * v[rows] + (1 - beta_2) * g[rows] ** 2
        alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        weight[rows] -= alpha * m[rows] / (np.sqrt(v[rows]) + epsilon)
    return model, start, weight


def test_the_lazy_update_moves_only_the_touched_rows_by_lazy_adams_formula():
    model, start, expected = lazy_reference()
    embedding = model.trainable_variables[0].numpy()
    np.testing.assert_array_equal(embedding[20:], start[20:].astype(np.float32))  # never in a batch: untouched
    assert np.abs(embedding[:20] - start[:20]).max() > 1e-3
    np.testing.assert_allclose(embedding, expected, rtol=1e-5, atol=1e-6)


def test_the_lazy_update_differs_from_the_dense_one_only_in_its_sparse_variables():
    dense, _ = trained("dense")
    lazy, _ = trained("lazy")
    assert not np.allclose(dense.trainable_variables[0].numpy(), lazy.trainable_variables[0].numpy(), atol=1e-6)
    # the dense layers' gradients are the same at step 1 only: after it the embeddings differ, so compare step 1
    dense_1, _ = trained("dense", steps=1)
    lazy_1, _ = trained("lazy", steps=1)
    for a, b in zip(dense_1.trainable_variables, lazy_1.trainable_variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.name)


def test_the_updates_bytes_are_28_a_weight_and_lazy_counts_only_the_batches_embedding_rows():
    """The roofline's numerator (finetune.adam.bytes_per_step): dense and fused move every weight, its gradient and
    two moments; lazy moves the embedding's rows that the batches hold (their mean distinct ids), the rest dense."""
    model = tiny_model(seed=3)
    weights = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert adam.bytes_per_step(model, "dense", []) == {"weights": weights, "update_bytes": 28.0 * weights}
    assert adam.bytes_per_step(model, "fused", [])["update_bytes"] == 28.0 * weights
    batches = [({"input_ids": np.array([[1, 2, 2], [3, 1, 0]])}, None), ({"input_ids": np.array([[5, 5, 5]])}, None)]
    lazy = adam.bytes_per_step(model, "lazy", batches)  # distinct ids: 4 (0, 1, 2, 3) and 1 (5): 2.5 a batch
    assert lazy["rows_touched"] == 2.5
    assert lazy["update_bytes"] == 28.0 * (weights - VOCAB * WIDTH + 2.5 * WIDTH)


def test_an_unknown_update_is_named():
    with pytest.raises(ValueError, match="unknown update 'sgd': choose one of dense, fused, lazy"):
        adam.adam("sgd")
