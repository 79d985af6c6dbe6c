"""Data as in the course: load the splits, tokenize sentence pairs, pad per batch with
DataCollatorWithPadding through `to_tf_dataset`; and the other paddings of finetune.perf (PADDINGS). For engines
without TensorFlow, the same batches as numpy arrays (numpy_batches).
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np

from finetune import environment, glue_tsv, models
from finetune.errors import FinetuneError
from finetune.perf import BUCKET_COUNT, GROUPED_PADDINGS, PADDINGS  # what each padding does: finetune/perf.py
from finetune.tasks import TASKS, TaskSpec

MODEL_INPUTS = ["attention_mask", "input_ids", "token_type_ids"]
# bucket: rows are sorted by length within windows of this many batches, as transformers' Trainer does with
# group_by_length (LengthGroupedSampler: megabatches of up to 50 batches): batches stay random across windows.
BUCKET_WINDOW_BATCHES = 50


@dataclass(frozen=True)
class PreparedData:
    """Everything about the data that does not change between runs of one model and task."""

    task: TaskSpec
    model: models.ResolvedModel
    tokenizer: object
    tokenized: datasets.DatasetDict  # train and the task's validation split(s), with the model inputs added
    source: str  # where the rows came from

    @property
    def eval_split(self) -> str:
        """The headline validation split (MNLI: validation_matched)."""
        return self.task.eval_splits[0]

    @property
    def eval_labels(self):
        return self.tokenized[self.eval_split]["label"]


def load_splits(task: TaskSpec, glue_dir: str | None) -> tuple[datasets.DatasetDict, str]:
    if glue_dir is not None:
        splits = glue_tsv.load_glue_dir(glue_dir, task)
        return splits, f"GLUE TSV: {glue_tsv.task_folder(glue_dir, task)}"
    if not environment.hub_reachable():
        raise FinetuneError(
            "the Hugging Face Hub is unreachable and no GLUE data folder was given: run offline with "
            f"GLUE_DIR=/path/to/glue (holding {task.glue_folder}/{', '.join(task.split_files.values())}) or "
            "--glue-dir /path/to/glue"
        )
    splits = datasets.load_dataset(task.hub_path, task.hub_config)
    return datasets.DatasetDict({split: splits[split] for split in task.split_files}), f"Hub: {task.hub_path}/{task.hub_config}"


def _first(split: datasets.Dataset, count: int | None) -> datasets.Dataset:
    return split if count is None else split.select(range(min(count, len(split))))


def prepare(config) -> PreparedData:
    """Load, truncate (max_*_samples) and tokenize the task's splits for config.model."""
    task = TASKS[config.task]
    model = models.resolve(config.model)
    models.check_local(model)  # a bad model folder is reported before any data is read
    splits, source = load_splits(task, config.glue_dir)
    # Neither split is empty here (glue_tsv rejects a header-only file) and max_*_samples >= 1 (RunConfig),
    # so _first never empties one.
    splits = datasets.DatasetDict({
        split: _first(splits[split], config.max_train_samples if split == "train" else config.max_eval_samples)
        for split in task.split_files})
    tokenizer = models.load_tokenizer(model)

    def tokenize(batch):
        return tokenizer(*(batch[key] for key in task.text_columns), truncation=True)

    tokenized = splits.map(tokenize, batched=True)
    return PreparedData(task, model, tokenizer, tokenized, source)


def collator_for(prepared: PreparedData, padding: str = "dynamic", pad_to_multiple_of: int | None = None):
    """A factory of the course's DataCollatorWithPadding for `padding` (finetune/perf.py PADDINGS): a bad padding
    is one line. dynamic, multiple and bucket pad each batch to its longest pair, rounded up to `pad_to_multiple_of`;
    fixed pads every batch to the longest pair of the data (rounded up likewise)."""
    from transformers import DataCollatorWithPadding

    if padding not in PADDINGS:
        raise FinetuneError(f"unknown padding {padding!r}: choose one of {', '.join(PADDINGS)}")
    if padding == "multiple" and pad_to_multiple_of is None:
        raise FinetuneError("--padding multiple needs --pad-multiple N (e.g. 8)")
    if padding == "buckets":
        return bucket_collator(prepared, bucket_lengths(prepared, pad_to_multiple_of or 8))
    fixed = {}
    if padding == "fixed":
        fixed = {"padding": "max_length", "max_length": _round_up(longest_row(prepared), pad_to_multiple_of)}

    def collator(return_tensors: str):
        return DataCollatorWithPadding(tokenizer=prepared.tokenizer, return_tensors=return_tensors,
                                       pad_to_multiple_of=pad_to_multiple_of, **fixed)

    return collator


def bucket_lengths(prepared: PreparedData, multiple: int = 8, count: int = BUCKET_COUNT) -> tuple:
    """The padded lengths of `buckets` padding: the training rows' length quantiles at 1/count, 2/count, ...,
    rounded up to `multiple`, and last the longest pair of either split, so that every row of both fits."""
    lengths = np.asarray([len(ids) for ids in prepared.tokenized["train"]["input_ids"]])
    cuts = np.quantile(lengths, [i / count for i in range(1, count)]) if count > 1 else []
    ends = {_round_up(int(np.ceil(cut)), multiple) for cut in cuts} | {_round_up(longest_row(prepared), multiple)}
    return tuple(sorted(ends))


def bucket_collator(prepared: PreparedData, lengths: tuple):
    """A factory of collators that pad a batch to the shortest of `lengths` holding its longest row: the course's
    DataCollatorWithPadding with padding="max_length" at that length."""
    from transformers import DataCollatorWithPadding

    def collator(return_tensors: str):
        by_length = {length: DataCollatorWithPadding(tokenizer=prepared.tokenizer, return_tensors=return_tensors,
                                                     padding="max_length", max_length=length) for length in lengths}

        def pad(features):
            longest = max(len(row["input_ids"]) for row in features)
            return by_length[next(length for length in lengths if length >= longest)](features)

        return pad

    return collator


def tf_datasets(prepared: PreparedData, batch_size: int, pad_to_multiple_of: int | None = None,
                shuffle_train: bool = True, padding: str = "dynamic", seed: int = 0, eval_split: str | None = None):
    """(train, validation) tf.data pipelines, padded per batch; only the training set is shuffled. The validation
    pipeline is of `eval_split` (default: the task's headline validation split).

    padding: see collator_for; bucket (and buckets) batches rows of similar length (shuffled with `seed`, reshuffled
    each epoch) and pads each batch like dynamic (buckets: to its bucket's length). The validation set keeps its order:
    bucket pads it like multiple (or dynamic), buckets to the buckets' lengths.
    """
    collator = collator_for(prepared, padding, pad_to_multiple_of)

    def convert(split: str, shuffle: bool):
        return prepared.tokenized[split].to_tf_dataset(
            columns=MODEL_INPUTS, label_cols=["label"], shuffle=shuffle, collate_fn=collator("tf"), batch_size=batch_size
        )

    if padding in GROUPED_PADDINGS:
        train = bucketed(prepared.tokenized["train"], collator("np"), batch_size, shuffle_train, seed)
    else:
        train = without_autotune(convert("train", shuffle_train))
    return train, without_autotune(convert(eval_split or prepared.eval_split, False))


def without_autotune(dataset):
    """`dataset` without tf.data's autotuning model. That model runs a thread per iterator that sleeps between
    optimisations for a period doubling up to 60 s, and deleting the iterator waits for the thread to wake: seen
    here (gdb: RootDataset::Iterator::~Iterator waiting on Model::OptimizeLoop's timed wait), fit() returned
    14-63 s after its last step, in 1 to 3 of every 4 CI fine-tunes, the process idle. These pipelines have nothing
    for it to tune: to_tf_dataset's map is sequential, and prefetch(AUTOTUNE) sizes its buffer by its own
    (legacy) autotuner, which this leaves on."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def numpy_batches(prepared: PreparedData, batch_size: int, pad_to_multiple_of: int | None = None,
                  shuffle_train: bool = True, padding: str = "dynamic", seed: int = 0, eval_split: str | None = None,
                  shard: tuple | None = None):
    """(train, validation) as NumpyBatches, for engines without TensorFlow: the same token ids, collator and padding
    as tf_datasets, batches of the same rows where nothing is shuffled; shuffled rows (a new order each epoch) are
    drawn from numpy's generator seeded with `seed`, not tf.data's. shard: (worker, workers): the training batches
    are that worker's part of each global batch (NumpyBatches); the validation set stays whole."""
    collator = collator_for(prepared, padding, pad_to_multiple_of)("np")
    train = NumpyBatches(prepared.tokenized["train"], collator, batch_size, shuffle=shuffle_train, seed=seed,
                         group_by_length=padding in GROUPED_PADDINGS, shard=shard)
    return train, NumpyBatches(prepared.tokenized[eval_split or prepared.eval_split], collator, batch_size)


class NumpyBatches:
    """One split as padded numpy batches ({input: int64 matrix}, labels), indexable (keras.utils.PyDataset's
    protocol: len, [i], and new_epoch() where a PyDataset has on_epoch_end). Shuffled: rows in a new random order
    each epoch, cut into batches, as to_tf_dataset(shuffle=True) does; group_by_length: length_grouped_batches.

    shard=(worker, workers): every worker draws the same global batches (the same seed) and keeps its contiguous
    part of each, padded as the whole global batch is: the workers' parts together are the one-process batch, row
    for row and shape for shape (JAX's global arrays need one shape in every process). Every batch must split
    evenly: a short last batch that does not is one error line."""

    def __init__(self, split, collator, batch_size: int, shuffle: bool = False, seed: int = 0,
                 group_by_length: bool = False, shard: tuple | None = None):
        self._lengths = [len(ids) for ids in split["input_ids"]]
        self._columns = {name: split[name] for name in MODEL_INPUTS}
        self._labels = labels_of(split)
        self._collator, self._batch_size, self._group = collator, batch_size, group_by_length
        self._shard = shard
        self._rng = np.random.default_rng(seed) if shuffle else None  # one generator: each epoch draws the next order
        self.new_epoch()

    def new_epoch(self) -> None:
        if self._group:
            self._order = length_grouped_batches(self._lengths, self._batch_size, self._rng)
        else:
            rows = self._rng.permutation(len(self._lengths)) if self._rng is not None else np.arange(len(self._lengths))
            self._order = [rows[i:i + self._batch_size] for i in range(0, len(rows), self._batch_size)]
        if self._shard is not None:
            workers = self._shard[1]
            uneven = sorted({len(rows) for rows in self._order if len(rows) % workers})
            if uneven:
                raise FinetuneError(f"a batch of {uneven[0]} rows does not split over {workers} workers: pass a "
                                    f"--batch-size and --max-train-samples that are multiples of {workers}")

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, index: int) -> tuple:
        rows = self._order[index]
        features, labels = pad_rows(self._columns, rows, self._collator), self._labels[rows]
        if self._shard is None:
            return features, labels
        worker, workers = self._shard
        part = slice(worker * len(rows) // workers, (worker + 1) * len(rows) // workers)
        return {name: matrix[part] for name, matrix in features.items()}, labels[part]


def labels_of(split) -> np.ndarray:
    """A split's labels: float32 scores for a regression (STS-B), else int64 class ids."""
    scores = split.features["label"].dtype.startswith("float")
    return np.asarray(split["label"], dtype=np.float32 if scores else np.int64)


def pad_rows(columns: dict, rows, collator) -> dict:
    """The model inputs of `rows`, padded by the (numpy) collator into int64 matrices."""
    padded = collator([{name: columns[name][i] for name in MODEL_INPUTS} for i in rows])
    return {name: np.asarray(padded[name]).astype(np.int64) for name in MODEL_INPUTS}


def _round_up(length: int, multiple: int | None) -> int:
    return length if multiple is None else -(-length // multiple) * multiple


def longest_row(prepared: PreparedData) -> int:
    """The longest tokenized pair of either split: fixed padding's length, derived from the data."""
    return max(len(ids) for split in prepared.tokenized.values() for ids in split["input_ids"])


def length_grouped_batches(lengths, batch_size: int, rng: np.random.Generator | None = None,
                           window_batches: int = BUCKET_WINDOW_BATCHES) -> list:
    """Row indices of each batch: rows (shuffled when `rng` is given) sorted by length within windows of
    `window_batches * batch_size` rows and cut into batches; then the batches' order is shuffled.
    As many batches as batching the rows in order gives, so a schedule's length is unchanged."""
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths)) if rng is not None else np.arange(len(lengths))
    window = window_batches * batch_size
    batches = []
    for start in range(0, len(order), window):
        rows = order[start:start + window]
        rows = rows[np.argsort(lengths[rows], kind="stable")]
        batches.extend(rows[i:i + batch_size] for i in range(0, len(rows), batch_size))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def bucketed(split: datasets.Dataset, collator, batch_size: int, shuffle: bool, seed: int):
    """A tf.data pipeline of length-grouped batches (NumpyBatches), each padded by `collator` (numpy), a new order
    each epoch."""
    grouped = NumpyBatches(split, collator, batch_size, shuffle=shuffle, seed=seed, group_by_length=True)
    return tf_pipeline(grouped)


def tf_pipeline(grouped: NumpyBatches):
    """NumpyBatches as a tf.data pipeline: each iteration (an epoch) draws the next order."""
    import tensorflow as tf

    scores = grouped[0][1].dtype == np.float32

    calls = []

    def batches():  # each iteration (an epoch) of the pipeline draws the next order
        if calls:
            grouped.new_epoch()
        calls.append(1)
        for index in range(len(grouped)):
            yield grouped[index]

    # The same element spec as to_tf_dataset's, so the model sees the same signature as the course's.
    matrix = tf.TensorSpec(shape=(None, None), dtype=tf.int64)
    dataset = tf.data.Dataset.from_generator(
        batches, output_signature=({name: matrix for name in MODEL_INPUTS},
                                   tf.TensorSpec((None,), tf.float32 if scores else tf.int64)))
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(grouped))).prefetch(tf.data.AUTOTUNE)
    return without_autotune(dataset)
