"""TASKS: where each task's data lives (Hub and GLUE download layout) and how its columns are named."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    name: str
    hub_path: str  # load_dataset(hub_path, hub_config)
    hub_config: str
    glue_folder: str  # $GLUE_DIR/<glue_folder>/<file>
    split_files: dict  # Hub split name -> GLUE TSV file name
    sentence_keys: tuple  # the Hub's text columns, tokenized as a pair
    label_names: tuple  # ClassLabel names, in label-id order
    tsv_header: tuple  # the GLUE TSV's header row
    tsv_columns: dict  # Hub column -> index of that field in a TSV row

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


TASKS = {
    "mrpc": TaskSpec(
        name="mrpc",
        hub_path="nyu-mll/glue",
        hub_config="mrpc",
        glue_folder="MRPC",
        split_files={"train": "train.tsv", "validation": "dev.tsv"},
        sentence_keys=("sentence1", "sentence2"),
        label_names=("not_equivalent", "equivalent"),
        tsv_header=("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
        tsv_columns={"label": 0, "sentence1": 3, "sentence2": 4},
    ),
}
