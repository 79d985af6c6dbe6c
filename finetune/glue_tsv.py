"""Read GLUE-download-layout TSVs ($GLUE_DIR/MRPC/train.tsv, $GLUE_DIR/SST-2/dev.tsv, ...) into the Hub's columns,
label ids and schema, for every task of finetune.tasks.

Columns are read by their header name wherever the file has a header (MNLI's train and dev files differ in their
columns; CoLA alone has none, and is read by position). The files are read with `utf-8-sig` (MRPC's start with a
byte-order mark) and `QUOTE_NONE` (sentences hold bare `"` characters), as the Hub's own GLUE builder read them;
`idx` is the row's number, as there. Every row is checked, and a bad one is reported with its file and line.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import datasets

from finetune.errors import FinetuneError
from finetune.tasks import TaskSpec


def hub_features(task: TaskSpec) -> datasets.Features:
    """The schema of the Hub's glue/<task> splits."""
    columns = {key: datasets.Value("string") for key in task.text_columns}
    columns["label"] = (datasets.Value("float32") if task.is_regression
                        else datasets.ClassLabel(names=list(task.label_names)))
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


def _restore(task: TaskSpec) -> str:
    return f"restore the file from the GLUE download ({task.glue_folder})"


def _positions(path: Path, task: TaskSpec, header: tuple) -> dict:
    """Hub column -> field index, from the header's names."""
    missing = ", ".join(repr(name) for name in task.tsv_columns.values() if name not in header)
    if missing:
        raise FinetuneError(f"{path}:1: the header {header!r} has no column {missing}: {_restore(task)}")
    return {column: header.index(name) for column, name in task.tsv_columns.items()}


def _label(raw: str, task: TaskSpec):
    """The Hub's label for the TSV's text, or None when it is not one."""
    if task.tsv_labels == "score":
        try:
            value = float(raw)
        except ValueError:
            return None
        low, high = task.score_range
        return value if math.isfinite(value) and low <= value <= high else None
    if task.tsv_labels == "names":
        return task.label_names.index(raw) if raw in task.label_names else None
    return int(raw) if raw in {str(i) for i in range(task.num_labels)} else None


def _expected_labels(task: TaskSpec) -> str:
    if task.tsv_labels == "score":
        return f"a number from {task.score_range[0]:g} to {task.score_range[1]:g}"
    if task.tsv_labels == "names":
        return "one of " + ", ".join(task.label_names)
    return f"one of 0..{task.num_labels - 1}"


def read_rows(path: Path, task: TaskSpec):
    """(line number, {Hub column: value}) for each data row of one GLUE TSV file, checked."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        if task.header:
            header = tuple(next(rows, ()))
            positions, width, first = _positions(path, task, header), len(header), 2
        else:
            positions, width, first = dict(task.tsv_columns), task.fields, 1
        count = 0
        for line_number, row in enumerate(rows, start=first):
            if len(row) != width:
                raise FinetuneError(f"{path}:{line_number}: malformed row with {len(row)} tab-separated fields, "
                                    f"expected {width}: {_restore(task)}")
            label = _label(row[positions["label"]], task)
            if label is None:
                raise FinetuneError(f"{path}:{line_number}: label {row[positions['label']]!r} is not "
                                    f"{_expected_labels(task)}: {_restore(task)}")
            count += 1
            yield line_number, {**{key: row[positions[key]] for key in task.text_columns}, "label": label}
        if count == 0:  # the header alone: an empty split would fail deep inside to_tf_dataset
            raise FinetuneError(f"{path}: no data rows{' after the header' if task.header else ''}: {_restore(task)}")


def read_split(path: Path, task: TaskSpec) -> datasets.Dataset:
    columns = {key: [] for key in (*task.text_columns, "label", "idx")}
    for idx, (_, row) in enumerate(read_rows(path, task)):
        for key, value in row.items():
            columns[key].append(value)
        columns["idx"].append(idx)
    return datasets.Dataset.from_dict(columns, features=hub_features(task))


def load_glue_dir(glue_dir: str | Path, task: TaskSpec) -> datasets.DatasetDict:
    folder = task_folder(glue_dir, task)
    return datasets.DatasetDict(
        {split: read_split(folder / name, task) for split, name in task.split_files.items()}
    )
