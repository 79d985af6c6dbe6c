"""Performance variants (finetune.perf): the table builds, padding keeps its promises, retraces are counted,
and the mixed-precision policy is set for a run and restored after it."""

import dataclasses
import json

import datasets
import numpy as np
import pytest

import finetune  # noqa: F401
import tensorflow as tf
import tf_keras as keras

from finetune import FinetuneError, RunConfig, data, perf, runtime, steptime, tuned_choice
from finetune import __main__ as cli
from finetune.recipes import LOSSES
from finetune.engines.tf_keras import StepBench
from finetune.steptime import first_rows
from finetune.engines.tf_keras import session as train_session
from tests import hosts


def _widths(dataset):
    return [int(x["input_ids"].shape[1]) for x, _ in dataset]


def _rows(dataset):
    """Each row as (its unpadded token ids, its label), in the order the pipeline gives them."""
    return [(tuple(ids[mask == 1]), int(label)) for x, y in dataset
            for ids, mask, label in zip(x["input_ids"].numpy(), x["attention_mask"].numpy(), y.numpy())]


def _waste(dataset) -> float:
    masks = [x["attention_mask"].numpy() for x, _ in dataset]
    return 1.0 - sum(m.sum() for m in masks) / sum(m.size for m in masks)


@pytest.mark.parametrize("name", list(perf.VARIANTS))
def test_every_variant_builds_what_it_names(name, tiny_config, tiny_prepared):
    """Through the tf-keras engine's session, the one set-up that finetune() and StepBench share: a path that ignored config.perf
    would build the course's model and batches, and fail here."""
    variant = perf.VARIANTS[name]
    host = hosts.H100_X1 if variant.precision == "mixed_float16" else hosts.AMX  # one that runs it (building only)
    config = tiny_config.replace(perf=variant)
    with train_session(config, tiny_prepared, host=host) as run:
        train, model, strategy = run.train_ds, run.model, run.strategy
        lengths = {int(x["input_ids"].shape[1]) for x, _ in train}
        tight = all(int(x["attention_mask"].numpy().sum(axis=1).max()) == x["input_ids"].shape[1] for x, _ in train)
    assert len(train) == 5  # 40 rows / batch 8: every padding keeps the schedule's length
    if variant.pad_multiple:
        assert all(length % variant.pad_multiple == 0 for length in lengths), lengths
    if variant.padding == "fixed":
        assert len(lengths) == 1, lengths  # every batch to the longest pair
    if variant.padding == "dynamic":
        assert tight  # the course: each batch padded to its own longest pair, no further
    assert model.dtype_policy.name == variant.precision
    assert bool(model.jit_compile) is variant.jit_compile
    assert (strategy is not None) is (variant.distribute == "mirrored")
    assert model.distribute_strategy is (strategy or tf.distribute.get_strategy())


def test_best_is_a_named_variant_reachable_from_the_cli():
    rule = perf.best_choice(runtime.device_kind("auto")).variant
    assert perf.variant("best", runtime.device_kind("auto")) == perf.VARIANTS[rule]
    best = tuned_choice.best_choice(runtime.device_kind("auto"), "minilm-l6").variant  # measured here, else the rule
    assert cli.perf_config(cli.parse_args(["--perf", "best"])) == perf.VARIANTS[best]
    assert cli.perf_config(cli.parse_args([])) == perf.COURSE == RunConfig().perf
    flags = ["--perf", "xla-bucket8", "--no-jit-compile", "--precision", "mixed_bfloat16"]
    changed = cli.perf_config(cli.parse_args(flags))
    assert changed == perf.PerfConfig(padding="bucket", pad_multiple=8, precision="mixed_bfloat16")
    assert cli.perf_config(cli.parse_args(["--perf", "xla-bucket8", "--padding", "dynamic"])).pad_multiple is None
    with pytest.raises(FinetuneError, match="unknown --perf 'turbo': choose one of course, .*best"):
        perf.variant("turbo")


@pytest.mark.parametrize("fields, message", [
    (dict(padding="sorted"), "unknown padding 'sorted'"),
    (dict(precision="float16"), "unknown precision 'float16'"),
    (dict(distribute="horovod"), "unknown distribute 'horovod'"),
    (dict(padding="multiple"), "--padding multiple needs --pad-multiple"),
    (dict(pad_multiple=8), "use it with --padding multiple, bucket or fixed"),
    (dict(padding="bucket", pad_multiple=0), "--pad-multiple must be a positive whole number"),
])
def test_bad_perf_configs_say_what_to_do(fields, message):
    with pytest.raises(FinetuneError, match=message):
        perf.PerfConfig(**fields)


def test_fixed_padding_gives_one_shape_the_longest_pair(tiny_prepared):
    longest = data.longest_row(tiny_prepared)
    lengths = [len(ids) for split in tiny_prepared.tokenized.values() for ids in split["input_ids"]]
    assert longest == max(lengths) and min(lengths) < longest  # else fixed == dynamic and this proves nothing
    train, validation = data.tf_datasets(tiny_prepared, 8, padding="fixed")
    assert set(_widths(train)) == set(_widths(validation)) == {longest}
    train, _ = data.tf_datasets(tiny_prepared, 8, padding="fixed", pad_to_multiple_of=16)
    assert set(_widths(train)) == {-(-longest // 16) * 16}


def test_multiple_padding_rounds_each_batch_up(tiny_prepared):
    dynamic, _ = data.tf_datasets(tiny_prepared, 8, shuffle_train=False)
    rounded, _ = data.tf_datasets(tiny_prepared, 8, shuffle_train=False, padding="multiple", pad_to_multiple_of=8)
    assert [-(-w // 8) * 8 for w in _widths(dynamic)] == _widths(rounded)
    assert any(w % 8 for w in _widths(dynamic))  # the rounding did something


def test_bucketing_keeps_every_row_and_label_and_wastes_less_padding(tiny_prepared):
    dynamic, _ = data.tf_datasets(tiny_prepared, 8, seed=0)
    bucket, _ = data.tf_datasets(tiny_prepared, 8, padding="bucket", seed=0)
    split = tiny_prepared.tokenized["train"]
    every_row = sorted((tuple(ids), label) for ids, label in zip(split["input_ids"], split["label"]))
    first, second = _rows(bucket), _rows(bucket)  # two epochs
    assert sorted(first) == sorted(second) == every_row  # each row once per epoch, with its own label
    assert first != second  # reshuffled each epoch
    assert len(bucket) == len(dynamic) == len(list(bucket)) == 5
    assert _waste(bucket) < 0.5 * _waste(dynamic), (_waste(bucket), _waste(dynamic))


def test_fixed_buckets_bound_the_shapes_and_keep_every_row(tiny_prepared):
    lengths = data.bucket_lengths(tiny_prepared, 8)
    rows = [len(ids) for split in tiny_prepared.tokenized.values() for ids in split["input_ids"]]
    assert 1 < len(lengths) <= perf.BUCKET_COUNT and all(n % 8 == 0 for n in lengths)
    assert lengths[-1] >= max(rows)  # the last holds the longest pair of either split
    train, validation = data.tf_datasets(tiny_prepared, 8, padding="buckets", seed=0)
    assert set(_widths(train)) <= set(lengths) and set(_widths(validation)) <= set(lengths)
    assert len(set(_widths(train))) > 1  # not one fixed length: the short batches are padded less
    split = tiny_prepared.tokenized["train"]
    every_row = sorted((tuple(ids), label) for ids, label in zip(split["input_ids"], split["label"]))
    assert sorted(_rows(train)) == every_row  # nothing truncated or lost
    for features, _ in train:  # each batch padded to the shortest bucket that holds its longest row
        longest = int(features["attention_mask"].numpy().sum(axis=1).max())
        assert features["input_ids"].shape[1] == min(n for n in lengths if n >= longest)
    assert perf.VARIANTS["xla-buckets"].changes_numerics and perf.VARIANTS["buckets"].groups_by_length


def test_length_grouped_batches_sort_within_windows_only():
    lengths = np.random.default_rng(1).integers(5, 100, size=203)
    batches = data.length_grouped_batches(lengths, 4, rng=None, window_batches=10)
    assert len(batches) == 51 and sorted(np.concatenate(batches)) == list(range(203))
    window = np.concatenate(batches[:10])
    assert list(window) == list(np.argsort(lengths[:40], kind="stable"))  # rows 0-39 only, sorted
    shuffled = data.length_grouped_batches(lengths, 4, rng=np.random.default_rng(0), window_batches=10)
    spread = [np.ptp(lengths[b]) for b in shuffled]
    unsorted = [np.ptp(lengths[i:i + 4]) for i in range(0, 203, 4)]
    assert np.mean(spread) < 0.5 * np.mean(unsorted)


def _short_then_long(prepared):
    """Training rows ordered so that dynamic padding makes batches of different widths."""
    train = prepared.tokenized["train"]
    order = sorted(range(len(train)), key=lambda i: len(train[i]["input_ids"]))
    picked = order[:8] + order[-8:] + order[8:12] + order[-12:-8]
    return dataclasses.replace(prepared, tokenized=datasets.DatasetDict({**prepared.tokenized,
                                                                         "train": train.select(picked)}))


def test_retraces_and_shapes_are_counted(tiny_config, tiny_prepared):
    rows = _short_then_long(tiny_prepared)
    dynamic = StepBench(tiny_config, rows, num_batches=3)
    fixed = StepBench(tiny_config.replace(perf=perf.VARIANTS["fixed"]), rows, num_batches=3)
    assert dynamic.traces() == 0  # nothing traced before the first step
    for bench in (dynamic, fixed):
        bench.timed_pass()
        bench.timed_pass()
    assert dynamic.rows == fixed.rows == 24
    assert len(fixed.shapes) == 1 and len(dynamic.shapes) > 1
    # The train function takes the iterator, as in fit(): its element spec leaves the padded length open, so
    # new lengths trace nothing new, and another pass over the same batches traces nothing either.
    traced = dynamic.traces()
    assert traced >= 1 and traced == fixed.traces(), (traced, fixed.traces())
    dynamic.timed_pass()
    assert dynamic.traces() == traced


def test_precision_is_set_for_the_block_and_restored(tiny_config, tiny_prepared):
    before = keras.mixed_precision.global_policy().name
    with runtime.configured(0, device="cpu", precision="mixed_bfloat16", host=hosts.AMX):  # a host that has bf16
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == before
    with pytest.raises(RuntimeError, match="inside"):
        with runtime.configured(0, device="cpu", precision="mixed_bfloat16", host=hosts.AMX):
            raise RuntimeError("inside")
    assert keras.mixed_precision.global_policy().name == before
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # someone else's policy survives a float32 run
    try:
        with runtime.configured(0, precision="float32"):
            assert keras.mixed_precision.global_policy().name == "float32"
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy(before)


@pytest.mark.parametrize("host, precision, refusal", [
    (hosts.AMX, "mixed_float16", "mixed_float16 needs a GPU"),
    (hosts.AVX2, "mixed_bfloat16", "mixed_bfloat16 on this CPU would be emulated"),
])
def test_emulated_precisions_are_refused_and_leave_the_policy_alone(host, precision, refusal):
    before = keras.mixed_precision.global_policy().name
    with pytest.raises(FinetuneError, match=refusal):
        with runtime.configured(0, device="auto", precision=precision, host=host):
            pass
    assert keras.mixed_precision.global_policy().name == before


def test_mixed_precision_loss_is_computed_in_float32():
    labels = tf.constant([0, 1, 1])
    logits = tf.constant([[2.0, -1.0], [0.3, 0.2999], [-3.0, 4.0]])
    loss = perf.float32_logits(LOSSES["from_logits"]())(labels, tf.cast(logits, tf.bfloat16))
    exact = keras.losses.sparse_categorical_crossentropy(labels, tf.cast(tf.cast(logits, tf.bfloat16), tf.float32),
                                                         from_logits=True)
    assert loss.dtype == tf.float32
    np.testing.assert_allclose(loss.numpy(), exact.numpy(), rtol=1e-6)


def test_variants_are_timed_on_the_same_rows(tiny_config, tiny_prepared):
    rows = first_rows(tiny_prepared, 24)
    assert len(rows.tokenized["train"]) == 24 and len(rows.tokenized["validation"]) == 12
    course = StepBench(tiny_config, rows, num_batches=3)
    bucket = StepBench(tiny_config.replace(perf=perf.VARIANTS["bucket"]), rows, num_batches=3)
    assert sorted(_rows(course.batches)) == sorted(_rows(bucket.batches))
    assert len(course.batches) == len(bucket.batches) == 3


def test_the_cli_runs_the_best_variant(capsys, generated_glue_dir):
    choice = tuned_choice.best_choice(runtime.device_kind("auto"), "tiny")  # whichever this host has: each runs here
    best = perf.VARIANTS[choice.variant]
    code = cli.main(["--model", "tiny", "--perf", "best", "--epochs", "1", "--max-train-samples", "16",
                     "--warmup-steps", "0", "--glue-dir", str(generated_glue_dir)])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["config"]["perf"] == dataclasses.asdict(best)
    assert result["perf_choice"] == f"best = {choice.variant} (for {choice.needs}; {choice.evidence})"
    assert result["num_train_steps"] == 2 and len(result["step_losses"]) == 2


def test_the_cli_refuses_float16_on_cpu_in_one_line(capsys, generated_glue_dir):
    if runtime.device_kind("auto") == "gpu":
        pytest.skip("this host has a GPU, where mixed_float16 is supported")
    code = cli.main(["--model", "tiny", "--perf", "best", "--precision", "mixed_float16",
                     "--glue-dir", str(generated_glue_dir)])
    err = capsys.readouterr().err  # the data is loaded first: its progress bars come before the error
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: --precision mixed_float16 needs a GPU")


def test_a_length_sample_follows_the_splits_lengths_in_a_seeded_order(tiny_prepared):
    """The rows at evenly spaced length quantiles (not the first rows), distinct, shuffled by the seed: what the
    variant benchmarks and bench.tune time. A sample that took the first rows, or sorted ones, fails here."""
    lengths = [len(ids) for ids in tiny_prepared.tokenized["train"]["input_ids"]]
    sample = steptime.length_sample(tiny_prepared, 10, seed=0).tokenized["train"]
    taken = [len(ids) for ids in sample["input_ids"]]
    assert sorted(taken) == [sorted(lengths)[int((i + 0.5) * 4)] for i in range(10)]  # 40 rows: every 4th
    assert len({tuple(ids) for ids in sample["input_ids"]}) == 10
    assert taken != sorted(taken) and taken != lengths[:10]
    again = steptime.length_sample(tiny_prepared, 10, seed=0).tokenized["train"]["input_ids"]
    assert again == sample["input_ids"] and steptime.length_sample(tiny_prepared, 10, seed=1).tokenized[
        "train"]["input_ids"] != sample["input_ids"]
    assert len(steptime.length_sample(tiny_prepared, 99).tokenized["train"]) == 40  # at most the split
