"""Run by tests/test_distribute.py in a fresh process: MirroredStrategy over two logical CPUs, `tiny` model.

    python tests/mirrored_child.py GLUE_DIR      # prints one JSON object

The physical CPU is split into two logical devices before TensorFlow initialises its devices, which a
process can do only once and before anything touches a device: hence a process of its own.
Dropout is switched off so that the mirrored model and a single-device copy compute the same steps.
"""

from __future__ import annotations

import json
import sys

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np
import tensorflow as tf

from finetune import RunConfig, data, models, perf, runtime
from finetune.engines.tf_keras import build_model

STEPS = 5


def main(glue_dir: str) -> dict:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    models.TINY_CONFIG.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)

    config = RunConfig(model="tiny", glue_dir=glue_dir, device="cpu", perf=perf.VARIANTS["mirrored"])
    prepared = data.prepare(config)
    with runtime.configured(config.seed, config.device, distribute="mirrored") as strategy:
        train, _ = data.tf_datasets(prepared, config.batch_size, shuffle_train=False)
        model = build_model(config, prepared, num_train_steps=STEPS)
        model.build_in_name_scope()  # variables now, under the strategy: mirrored on both devices
    x, y = next(iter(train))
    per_replica = strategy.experimental_distribute_dataset(train.take(1))  # how Keras' fit splits a batch
    replica_rows = [int(t.shape[0]) for t in strategy.experimental_local_results(next(iter(per_replica))[1])]

    with runtime.configured(config.seed, config.device):
        single = build_model(config.replace(perf=perf.COURSE), prepared, num_train_steps=STEPS)
        single.build_in_name_scope()
    single.set_weights(model.get_weights())
    start = [w.copy() for w in model.get_weights()]
    mirrored_losses = [float(model.train_on_batch(x, y)) for _ in range(STEPS)]
    single_losses = [float(single.train_on_batch(x, y)) for _ in range(STEPS)]

    change = np.concatenate([(w - s).ravel() for w, s in zip(model.get_weights(), start)])
    single_change = np.concatenate([(w - s).ravel() for w, s in zip(single.get_weights(), start)])
    replicas_agree = all(
        all(np.array_equal(v.numpy(), variable.values[0].numpy()) for v in variable.values)
        for variable in model.trainable_variables
    )
    return {
        "replicas": strategy.num_replicas_in_sync,
        "devices": list(strategy.extended.worker_devices),
        "model_replicas": model.distribute_strategy.num_replicas_in_sync,
        "global_batch": int(y.shape[0]),
        "replica_rows": replica_rows,
        "mirrored_losses": mirrored_losses,
        "single_losses": single_losses,
        "replicas_agree": replicas_agree,
        "weights_changed": float(np.abs(change).max()),
        "cosine_to_single_device": float(change @ single_change
                                         / (np.linalg.norm(change) * np.linalg.norm(single_change))),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
