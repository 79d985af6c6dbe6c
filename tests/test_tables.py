"""The variant tables: each name builds what the course says it is, and bad names list the good ones."""

from pathlib import Path

import pytest

import finetune  # noqa: F401
import tf_keras as keras

from finetune import FinetuneError, RunConfig, models
from finetune.recipes import LOSSES, OPTIMIZERS, PEAK_LEARNING_RATE, linear_decay_schedule


def test_string_loss_is_the_course_pitfall():
    assert LOSSES["string"]() == "sparse_categorical_crossentropy"


def test_from_logits_loss_expects_logits():
    loss = LOSSES["from_logits"]()
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert loss.get_config()["from_logits"] is True


def test_adam_is_what_the_keras_default_string_builds():
    ours, keras_default = OPTIMIZERS["adam"](100), keras.optimizers.get("adam")
    assert isinstance(ours, keras.optimizers.Adam) and ours.jit_compile is False
    assert float(ours.learning_rate) == pytest.approx(1e-3)  # the pitfall: Keras' default rate
    same = {k: v for k, v in ours.get_config().items() if k not in ("name", "jit_compile", "is_legacy_optimizer")}
    assert same == {k: v for k, v in keras_default.get_config().items() if k in same}
    assert OPTIMIZERS["linear-decay"](100, jit_compile=False).jit_compile is False


def test_linear_decay_schedule_spans_the_given_steps():
    optimizer = OPTIMIZERS["linear-decay"](1377)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert float(optimizer.learning_rate) == pytest.approx(PEAK_LEARNING_RATE)  # the rate at step 0
    schedule = linear_decay_schedule(1377)
    assert float(schedule(0)) == pytest.approx(PEAK_LEARNING_RATE)
    assert float(schedule(1377 // 2)) == pytest.approx(PEAK_LEARNING_RATE / 2, rel=1e-3)
    assert float(schedule(1377)) == 0.0


@pytest.mark.parametrize("field, value, valid", [
    ("loss", "mse", "string, from_logits"),
    ("optimizer", "sgd", "adam, linear-decay"),
    ("task", "sst-2", "cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli"),
])
def test_unknown_names_list_the_valid_ones(field, value, valid):
    with pytest.raises(FinetuneError, match=f"unknown {field} '{value}': choose one of {valid}"):
        RunConfig(**{field: value})


@pytest.mark.parametrize("field, value", [("epochs", 0), ("epochs", -1), ("batch_size", -8), ("batch_size", 0)])
def test_non_positive_sizes_are_rejected(field, value):
    with pytest.raises(FinetuneError, match="must be a positive whole number"):
        RunConfig(**{field: value})


def test_bundled_model_resolves_to_its_directory():
    resolved = models.resolve("minilm-l6")
    assert resolved.source == "bundled"
    assert Path(resolved.location, "config.json").is_file()


def test_hub_ids_and_directories_are_taken_as_is(tmp_path):
    assert models.resolve("bert-base-uncased") == models.ResolvedModel("bert-base-uncased", "hub", "bert-base-uncased")
    assert models.resolve("org/some-model").source == "hub"
    assert models.resolve(str(tmp_path)) == models.ResolvedModel(str(tmp_path), "local", str(tmp_path))
    with pytest.raises(FinetuneError, match="does not exist"):
        models.resolve(str(tmp_path / "missing"))
