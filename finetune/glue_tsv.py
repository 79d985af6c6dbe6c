"""Read GLUE-download-layout TSVs ($GLUE_DIR/MRPC/train.tsv) into the Hub's columns and schema.

The files start with a UTF-8 byte-order mark and hold bare `"` characters inside sentences, so
they are read with `utf-8-sig` and `QUOTE_NONE`; every row is checked, and a bad one is reported
with its file and line number.
"""

from __future__ import annotations

import csv
from pathlib import Path

import datasets

from finetune.errors import FinetuneError
from finetune.tasks import TaskSpec


def hub_features(task: TaskSpec) -> datasets.Features:
    """The schema of the Hub's glue/<task> splits."""
    columns = {key: datasets.Value("string") for key in task.sentence_keys}
    columns["label"] = datasets.ClassLabel(names=list(task.label_names))
    columns["idx"] = datasets.Value("int32")
    return datasets.Features(columns)


def task_folder(glue_dir: str | Path, task: TaskSpec) -> Path:
    root = Path(glue_dir)
    if not root.is_dir():
        raise FinetuneError(
            f"GLUE data folder {str(root)!r} does not exist: set GLUE_DIR or --glue-dir to the folder "
            f"that holds {task.glue_folder}/{task.split_files['train']} (the GLUE download layout)"
        )
    folder = root / task.glue_folder
    for name in task.split_files.values():
        if not (folder / name).is_file():
            raise FinetuneError(
                f"{folder / name} is missing: GLUE_DIR/--glue-dir must hold "
                f"{task.glue_folder}/{name} (the GLUE download layout, e.g. GLUE_DIR=../shared/data/glue)"
            )
    return folder


def _parse_rows(path: Path, task: TaskSpec):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = tuple(next(rows, ()))
        if header != task.tsv_header:
            raise FinetuneError(
                f"{path}: header is {header!r}, expected {task.tsv_header!r}: "
                f"give the GLUE download's {task.glue_folder} files unchanged"
            )
        count = 0
        for line_number, row in enumerate(rows, start=2):
            if len(row) != len(task.tsv_header):
                raise FinetuneError(
                    f"{path}:{line_number}: malformed row with {len(row)} tab-separated fields, "
                    f"expected {len(task.tsv_header)}: restore the file from the GLUE download"
                )
            label = row[task.tsv_columns["label"]]
            if label not in {str(i) for i in range(task.num_labels)}:
                raise FinetuneError(
                    f"{path}:{line_number}: malformed row, label {label!r} is not one of "
                    f"0..{task.num_labels - 1}: restore the file from the GLUE download"
                )
            count += 1
            yield row
        if count == 0:  # the header alone: an empty split would fail deep inside to_tf_dataset
            raise FinetuneError(f"{path}: no data rows after the header: restore the file from the GLUE download")


def read_split(path: Path, task: TaskSpec) -> datasets.Dataset:
    columns = {key: [] for key in (*task.sentence_keys, "label", "idx")}
    for idx, row in enumerate(_parse_rows(path, task)):
        for key in task.sentence_keys:
            columns[key].append(row[task.tsv_columns[key]])
        columns["label"].append(int(row[task.tsv_columns["label"]]))
        columns["idx"].append(idx)
    return datasets.Dataset.from_dict(columns, features=hub_features(task))


def load_glue_dir(glue_dir: str | Path, task: TaskSpec) -> datasets.DatasetDict:
    folder = task_folder(glue_dir, task)
    return datasets.DatasetDict(
        {split: read_split(folder / name, task) for split, name in task.split_files.items()}
    )
