"""linear-decay: the schedule is as long as the training run, so the rate is 0 after the last step."""

import pytest

import finetune  # noqa: F401
import tf_keras as keras
from finetune import data, runtime
from finetune.recipes import PEAK_LEARNING_RATE
from finetune.engines.tf_keras import build_model


def test_linear_decay_reaches_zero_at_the_last_step(tiny_config, tiny_prepared):
    config = tiny_config.replace(optimizer="linear-decay", epochs=2)
    with runtime.configured(config.seed):
        train, _ = data.tf_datasets(tiny_prepared, config.batch_size)
        num_train_steps = len(train) * config.epochs  # 40 rows / 8 = 5 batches, x 2 epochs
        model = build_model(config, tiny_prepared, num_train_steps)
        assert float(model.optimizer.learning_rate) == pytest.approx(PEAK_LEARNING_RATE)
        rates = []  # the rate each step was taken with (Keras updates it as the step applies gradients)
        record = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: rates.append(float(model.optimizer.learning_rate)))
        model.fit(train, epochs=config.epochs, verbose=0, callbacks=[record])
    schedule = model.optimizer.get_config()["learning_rate"]["config"]
    assert num_train_steps == 10 == int(model.optimizer.iterations) == schedule["decay_steps"]
    assert schedule["end_learning_rate"] == 0.0 and schedule["power"] == 1.0  # linear, to zero
    assert rates == pytest.approx([PEAK_LEARNING_RATE * (1 - step / 10) for step in range(10)], rel=1e-5)
