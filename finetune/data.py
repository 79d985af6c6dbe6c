"""Data as in the course: load the splits, tokenize sentence pairs, pad per batch with
DataCollatorWithPadding through `to_tf_dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets

from finetune import environment, glue_tsv, models
from finetune.errors import FinetuneError
from finetune.tasks import TASKS, TaskSpec

MODEL_INPUTS = ["attention_mask", "input_ids", "token_type_ids"]


@dataclass(frozen=True)
class PreparedData:
    """Everything about the data that does not change between runs of one model and task."""

    task: TaskSpec
    model: models.ResolvedModel
    tokenizer: object
    tokenized: datasets.DatasetDict  # train / validation, with the model inputs added
    source: str  # where the rows came from

    @property
    def eval_labels(self):
        return self.tokenized["validation"]["label"]


def load_splits(task: TaskSpec, glue_dir: str | None) -> tuple[datasets.DatasetDict, str]:
    if glue_dir is not None:
        splits = glue_tsv.load_glue_dir(glue_dir, task)
        return splits, f"GLUE TSV: {glue_tsv.task_folder(glue_dir, task)}"
    if not environment.hub_reachable():
        raise FinetuneError(
            "the Hugging Face Hub is unreachable and no GLUE data folder was given: run offline with "
            f"GLUE_DIR=/path/to/glue (holding {task.glue_folder}/train.tsv and dev.tsv) or --glue-dir /path/to/glue"
        )
    splits = datasets.load_dataset(task.hub_path, task.hub_config)
    return datasets.DatasetDict({split: splits[split] for split in task.split_files}), f"Hub: {task.hub_path}/{task.hub_config}"


def _first(split: datasets.Dataset, count: int | None) -> datasets.Dataset:
    return split if count is None else split.select(range(min(count, len(split))))


def prepare(config) -> PreparedData:
    """Load, truncate (max_*_samples) and tokenize the task's splits for config.model."""
    task = TASKS[config.task]
    model = models.resolve(config.model)
    splits, source = load_splits(task, config.glue_dir)
    splits = datasets.DatasetDict(
        train=_first(splits["train"], config.max_train_samples),
        validation=_first(splits["validation"], config.max_eval_samples),
    )
    tokenizer = models.load_tokenizer(model)

    def tokenize(batch):
        return tokenizer(*(batch[key] for key in task.sentence_keys), truncation=True)

    tokenized = splits.map(tokenize, batched=True)
    return PreparedData(task, model, tokenizer, tokenized, source)


def tf_datasets(prepared: PreparedData, batch_size: int, pad_to_multiple_of: int | None = None,
                shuffle_train: bool = True):
    """(train, validation) tf.data pipelines, padded per batch; only the training set is shuffled."""
    from transformers import DataCollatorWithPadding

    collator = DataCollatorWithPadding(
        tokenizer=prepared.tokenizer, return_tensors="tf", pad_to_multiple_of=pad_to_multiple_of
    )

    def convert(split: str, shuffle: bool):
        return prepared.tokenized[split].to_tf_dataset(
            columns=MODEL_INPUTS, label_cols=["label"], shuffle=shuffle, collate_fn=collator, batch_size=batch_size
        )

    return convert("train", shuffle_train), convert("validation", False)
