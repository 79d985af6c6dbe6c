"""The keras3 engine's batches: finetune.data's numpy batches, padded as the run's variant runs on its backend, in a
keras.utils.PyDataset under keras-hub's input names (no TensorFlow needed)."""

from __future__ import annotations

from finetune import data
from finetune.engines.keras3_process import keras_for
from finetune.engines.keras3_variants import effective


def datasets(config, prepared, split: str | None = None, shuffle_train: bool = True):
    """(train, validation) as keras.utils.PyDataset over finetune.data's numpy batches (no TensorFlow), with
    keras-hub's input names: token_ids, segment_ids, padding_mask; padded as config.perf runs on its backend."""
    train, evaluation = numpy_batches(config, prepared, split, shuffle_train)
    return py_dataset(config.backend, train), py_dataset(config.backend, evaluation)


def numpy_batches(config, prepared, split: str | None = None, shuffle_train: bool = True):
    """(train, validation) as finetune.data.NumpyBatches, padded as config.perf runs on its backend; multi-worker:
    this worker's part of each global batch (Keras 3 makes the global array from each process's part)."""
    from finetune import cluster

    perf = effective(config.perf, config.backend)
    world = cluster.World.from_env()
    shard = (world.index, world.workers) if perf.distribute == "multi-worker" else None
    return data.numpy_batches(prepared, config.batch_size, seed=config.seed, eval_split=split,
                              shuffle_train=shuffle_train, shard=shard, **perf.data_options())


def keras_inputs(features: dict) -> dict:
    """finetune.data's model inputs under keras-hub's names."""
    return {"token_ids": features["input_ids"], "segment_ids": features["token_type_ids"],
            "padding_mask": features["attention_mask"].astype(bool)}


def py_dataset(backend: str, batches):
    """`batches` (len, [i] -> (features, labels), and new_epoch() where it reshuffles) as a keras.utils.PyDataset:
    read in fit()'s own thread (workers=1, no multiprocessing), a new order after each epoch.

    It is given to Keras' own Model.fit and Model.predict (`keras.Model.fit(model, ...)`): keras-hub's PipelineModel
    overrides them to convert every input that is not tf.data or grain, a PyDataset included, through tf.data or
    grain (keras_hub/src/utils/pipeline_model.py), to map a preprocessor over it; this model has none."""
    keras = keras_for(backend)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return len(batches)

        def __getitem__(self, index):
            features, labels = batches[index]
            return keras_inputs(features), labels

        def on_epoch_end(self):
            if hasattr(batches, "new_epoch"):
                batches.new_epoch()

    return Batches()
