"""TASKS: every GLUE task in one table (as transformers' run_glue.py has `task_to_keys`): where its data lives on
the Hub and in the GLUE download layout, how the files name its columns and labels, and how it is scored."""

from __future__ import annotations

from dataclasses import dataclass

# The GLUE metric of each task, as evaluate's glue metric names them (the first is the task's headline).
ACCURACY, F1, MCC, PEARSON, SPEARMAN = "accuracy", "f1", "matthews_correlation", "pearson", "spearmanr"
METRIC_RANGE = {ACCURACY: (0.0, 1.0), F1: (0.0, 1.0), MCC: (-1.0, 1.0), PEARSON: (-1.0, 1.0), SPEARMAN: (-1.0, 1.0)}


@dataclass(frozen=True)
class TaskSpec:
    name: str  # as evaluate.load("glue", name) and load_dataset("nyu-mll/glue", name) call it
    glue_folder: str  # $GLUE_DIR/<glue_folder>/<file>
    split_files: dict  # Hub split name -> GLUE TSV file name (train first, then the validation split(s))
    text_columns: tuple  # the Hub's text columns, tokenized as a pair when there are two
    tsv_columns: dict  # Hub column -> the TSV header's name for it (or its index, for a file without a header)
    label_names: tuple | None  # ClassLabel names in the Hub's (label id) order; None: a float score (regression)
    metrics: tuple  # GLUE metric names; the first is the headline
    hub_rows: dict  # Hub split -> its rows (the GLUE folder's files give the same)
    tsv_labels: str = "ids"  # how the TSV writes a label: "ids" (0, 1, ...), "names" (entailment, ...), "score"
    header: bool = True  # False: the file has no header row (CoLA); tsv_columns then holds indices
    fields: int | None = None  # without a header: the number of tab-separated fields of a row
    score_range: tuple = (0.0, 5.0)  # a regression task's labels lie here (STS-B)
    hub_path: str = "nyu-mll/glue"  # load_dataset(hub_path, name)

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def num_labels(self) -> int:
        """The classifier's outputs: one per class, one for a regression score."""
        return 1 if self.is_regression else len(self.label_names)

    @property
    def hub_config(self) -> str:
        return self.name

    @property
    def eval_splits(self) -> tuple:
        """The validation split(s), the first the headline one (MNLI: matched, then mismatched)."""
        return tuple(split for split in self.split_files if split != "train")

    @property
    def kind(self) -> str:
        return "regression" if self.is_regression else f"{self.num_labels}-class classification"


def _pair(name, folder, columns, tsv, labels, metrics, rows, **more) -> TaskSpec:
    files = more.pop("split_files", {"train": "train.tsv", "validation": "dev.tsv"})
    return TaskSpec(name=name, glue_folder=folder, split_files=files, text_columns=columns, tsv_columns=tsv,
                    label_names=labels, metrics=metrics, hub_rows=dict(zip(files, rows)), **more)


ENTAILMENT = ("entailment", "not_entailment")

TASKS = {
    "cola": _pair("cola", "CoLA", ("sentence",), {"label": 1, "sentence": 3}, ("unacceptable", "acceptable"),
                  (MCC,), (8551, 1043), header=False, fields=4),  # source, label, original mark, sentence
    "sst2": _pair("sst2", "SST-2", ("sentence",), {"sentence": "sentence", "label": "label"},
                  ("negative", "positive"), (ACCURACY,), (67349, 872)),
    "mrpc": _pair("mrpc", "MRPC", ("sentence1", "sentence2"),
                  {"label": "Quality", "sentence1": "#1 String", "sentence2": "#2 String"},
                  ("not_equivalent", "equivalent"), (ACCURACY, F1), (3668, 408)),
    "qqp": _pair("qqp", "QQP", ("question1", "question2"),
                 {"question1": "question1", "question2": "question2", "label": "is_duplicate"},
                 ("not_duplicate", "duplicate"), (ACCURACY, F1), (363846, 40430)),
    "stsb": _pair("stsb", "STS-B", ("sentence1", "sentence2"),
                  {"sentence1": "sentence1", "sentence2": "sentence2", "label": "score"}, None, (PEARSON, SPEARMAN),
                  (5749, 1500), tsv_labels="score"),
    "mnli": _pair("mnli", "MNLI", ("premise", "hypothesis"),
                  {"premise": "sentence1", "hypothesis": "sentence2", "label": "gold_label"},
                  ("entailment", "neutral", "contradiction"), (ACCURACY,), (392702, 9815, 9832), tsv_labels="names",
                  split_files={"train": "train.tsv", "validation_matched": "dev_matched.tsv",
                               "validation_mismatched": "dev_mismatched.tsv"}),
    "qnli": _pair("qnli", "QNLI", ("question", "sentence"),
                  {"question": "question", "sentence": "sentence", "label": "label"}, ENTAILMENT, (ACCURACY,),
                  (104743, 5463), tsv_labels="names"),
    "rte": _pair("rte", "RTE", ("sentence1", "sentence2"),
                 {"sentence1": "sentence1", "sentence2": "sentence2", "label": "label"}, ENTAILMENT, (ACCURACY,),
                 (2490, 277), tsv_labels="names"),
    "wnli": _pair("wnli", "WNLI", ("sentence1", "sentence2"),
                  {"sentence1": "sentence1", "sentence2": "sentence2", "label": "label"},
                  ("not_entailment", "entailment"), (ACCURACY,), (635, 71)),
}
