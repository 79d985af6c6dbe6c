"""Tokenize + DataCollatorWithPadding through to_tf_dataset: shapes, padding, shuffling."""

import numpy as np
import pytest

from finetune import data
from finetune.perf import PADDINGS


def _batches(dataset):
    return [(({k: v.numpy() for k, v in x.items()}), y.numpy()) for x, y in dataset]


def test_batches_are_padded_to_their_longest_pair(tiny_prepared):
    _, validation = data.tf_datasets(tiny_prepared, batch_size=8)
    lengths = [len(ids) for ids in tiny_prepared.tokenized["validation"]["input_ids"]]
    batches = _batches(validation)
    assert [len(y) for _, y in batches] == [8, 4]  # 12 rows, the last batch is partial
    for i, (x, _) in enumerate(batches):
        own = lengths[8 * i: 8 * i + 8]
        assert set(x) == set(data.MODEL_INPUTS)
        assert x["input_ids"].shape == (len(own), max(own))  # dynamic padding: per batch, not global
        assert list(x["attention_mask"].sum(axis=1)) == own
        assert np.all(x["input_ids"][x["attention_mask"] == 0] == tiny_prepared.tokenizer.pad_token_id)


def test_only_the_training_set_is_shuffled(tiny_prepared):
    train, validation = data.tf_datasets(tiny_prepared, batch_size=8)
    eval_labels = np.concatenate([y for _, y in _batches(validation)])
    assert list(eval_labels) == tiny_prepared.tokenized["validation"]["label"]
    seen = [tuple(ids[mask == 1]) for x, _ in _batches(train) for ids, mask in zip(x["input_ids"], x["attention_mask"])]
    in_order = [tuple(ids) for ids in tiny_prepared.tokenized["train"]["input_ids"]]
    assert sorted(seen) == sorted(in_order) and seen != in_order


def test_pairs_are_truncated_to_the_model_limit(tiny_prepared):
    limit = tiny_prepared.tokenizer.model_max_length
    encoded = tiny_prepared.tokenizer("word " * 2000, "other " * 2000, truncation=True)
    assert len(encoded["input_ids"]) == limit
    assert max(len(ids) for ids in tiny_prepared.tokenized["train"]["input_ids"]) <= limit


def test_max_samples_of_one_keeps_one_row(tiny_config):
    prepared = data.prepare(tiny_config.replace(max_train_samples=1, max_eval_samples=1))
    assert len(prepared.tokenized["train"]) == 1 and len(prepared.tokenized["validation"]) == 1


@pytest.mark.parametrize("padding", PADDINGS)
def test_no_pipeline_runs_tf_datas_autotuning_thread(tiny_prepared, padding):
    """tf.data's autotuning thread made fit() return up to a minute after its last step (data.without_autotune):
    every padding's training and validation pipelines are built without it, and still give every row."""
    train, validation = data.tf_datasets(tiny_prepared, 8, padding=padding, pad_to_multiple_of=8)
    assert [d.options().autotune.enabled for d in (train, validation)] == [False, False]
    assert sum(len(labels) for _, labels in train) == len(tiny_prepared.tokenized["train"])
