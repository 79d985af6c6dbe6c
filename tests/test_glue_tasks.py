"""Every GLUE task of finetune.tasks loads from its GLUE-download layout into the Hub's rows: generated files in each
task's real layout (headers, columns the Hub drops, word or number labels, CoLA without a header, MNLI's two
validation files with different columns), the real SST-2, RTE and MRPC files, and one-line errors for bad files."""

import collections
import hashlib
import re

import pytest

from finetune import FinetuneError, metrics
from finetune.glue_tsv import hub_features, load_glue_dir
from finetune.tasks import TASKS
from tests.conftest import MRPC_HEADER, write_glue_tsv

MNLI_DEV = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
            "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "label2", "label3", "label4",
            "label5", "gold_label")
MNLI_TRAIN = MNLI_DEV[:11] + ("gold_label",)
STSB = ("index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2", "score")


def hub_rows(task, count, offset=0):
    """Rows as the Hub has them (text columns and the label id or score), with bare quotes in the text."""
    rows = []
    for i in range(offset, offset + count):
        texts = {column: f'{column} "{i}" of {task.name}, with \'quotes\'' for column in task.text_columns}
        label = round((i * 0.37) % 5.0, 3) if task.is_regression else (i * 7 + 1) % task.num_labels
        rows.append({**texts, "label": label})
    return rows


def tsv_label(task, label):
    if task.tsv_labels == "names":
        return task.label_names[label]
    return f"{label:.3f}" if task.is_regression else str(label)


def layout(task, split, row, i):
    """One row of the task's GLUE file: (header, fields), with the columns the Hub drops filled in."""
    t, label = row, tsv_label(task, row["label"])
    if task.name == "cola":
        return None, ("gj04", label, "" if label == "1" else "*", t["sentence"])
    if task.name == "sst2":
        return ("sentence", "label"), (t["sentence"], label)
    if task.name == "mrpc":
        return MRPC_HEADER, (label, 1000 + i, 2000 + i, t["sentence1"], t["sentence2"])
    if task.name == "qqp":
        return (("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
                (i, 2 * i, 2 * i + 1, t["question1"], t["question2"], label))
    if task.name == "stsb":
        return STSB, (i, "main-captions", "MSRvid", "2012test", i, "none", "none", t["sentence1"], t["sentence2"], label)
    if task.name == "mnli":
        parses = ("( a )", "( b )", "(ROOT a)", "(ROOT b)")
        if split == "train":
            return MNLI_TRAIN, (i, 10 * i, f"{i}e", "fiction", *parses, t["premise"], t["hypothesis"], label, label)
        return MNLI_DEV, (i, 10 * i, f"{i}e", "fiction", *parses, t["premise"], t["hypothesis"], *[label] * 6)
    if task.name == "qnli":
        return ("index", "question", "sentence", "label"), (i, t["question"], t["sentence"], label)
    return ("index", "sentence1", "sentence2", "label"), (i, t["sentence1"], t["sentence2"], label)  # RTE, WNLI


def write_task(root, task, counts):
    """The task's folder under `root`, each split's file in its layout; returns the Hub rows written."""
    written = {}
    for (split, name), count in zip(task.split_files.items(), counts):
        rows = hub_rows(task, count, offset=100 * len(written))
        lines = [layout(task, split, row, i) for i, row in enumerate(rows)]
        write_glue_tsv(root / task.glue_folder / name, [fields for _, fields in lines], header=lines[0][0],
                       bom=task.name == "mrpc")
        written[split] = rows
    return written


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_loads_the_hubs_rows_from_its_glue_layout(tmp_path, name):
    task = TASKS[name]
    written = write_task(tmp_path, task, (7, 5, 4))
    splits = load_glue_dir(tmp_path, task)
    assert list(splits) == list(task.split_files) and task.eval_splits[0].startswith("validation")
    for split, rows in written.items():
        loaded = splits[split]
        assert loaded.features == hub_features(task)
        assert loaded.column_names == [*task.text_columns, "label", "idx"]
        assert loaded["idx"] == list(range(len(rows)))
        for column in task.text_columns:
            assert loaded[column] == [row[column] for row in rows]
        if task.is_regression:
            assert loaded["label"] == pytest.approx([row["label"] for row in rows], abs=1e-6)
        else:
            assert loaded["label"] == [row["label"] for row in rows]
            assert loaded.features["label"].names == list(task.label_names)


def test_the_table_holds_every_glue_task_with_its_metric():
    assert set(TASKS) == {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"}
    assert {name: task.metrics for name, task in TASKS.items()} == {
        "cola": ("matthews_correlation",), "sst2": ("accuracy",), "mrpc": ("accuracy", "f1"),
        "qqp": ("accuracy", "f1"), "stsb": ("pearson", "spearmanr"), "mnli": ("accuracy",), "qnli": ("accuracy",),
        "rte": ("accuracy",), "wnli": ("accuracy",)}
    assert TASKS["stsb"].num_labels == 1 and TASKS["mnli"].num_labels == 3
    assert TASKS["mnli"].eval_splits == ("validation_matched", "validation_mismatched")
    # the Hub's ClassLabel orders: entailment is 0 for RTE and QNLI, 1 for WNLI
    assert TASKS["rte"].label_names.index("entailment") == 0 == TASKS["qnli"].label_names.index("entailment")
    assert TASKS["wnli"].label_names.index("entailment") == 1


@pytest.mark.parametrize("name, bad, problem", [
    ("rte", "maybe", "label 'maybe' is not one of entailment, not_entailment"),
    ("mnli", "-", "label '-' is not one of entailment, neutral, contradiction"),
    ("stsb", "5.5", "label '5.5' is not a number from 0 to 5"),
    ("stsb", "high", "label 'high' is not a number from 0 to 5"),
    ("cola", "2", "label '2' is not one of 0..1"),
    ("sst2", "positive", "label 'positive' is not one of 0..1"),
])
def test_an_unknown_label_names_the_file_and_the_line(tmp_path, name, bad, problem):
    task = TASKS[name]
    write_task(tmp_path, task, (4, 3, 3))
    path = tmp_path / task.glue_folder / "train.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    row = 2 if task.header else 1  # the second data row
    fields = lines[row].split("\t")
    label_at = 1 if name == "cola" else len(fields) - 1
    fields[label_at] = bad
    lines[row] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(FinetuneError) as err:
        load_glue_dir(tmp_path, task)
    message = str(err.value)
    assert f"train.tsv:{row + 1}: " in message and problem in message and "\n" not in message


@pytest.mark.parametrize("name", ["cola", "qqp", "mnli"])
def test_a_row_with_a_field_missing_names_the_file_and_the_line(tmp_path, name):
    task = TASKS[name]
    write_task(tmp_path, task, (4, 3, 3))
    path = tmp_path / task.glue_folder / "train.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[-1] = "\t".join(lines[-1].split("\t")[:-2])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(FinetuneError, match=rf"train.tsv:{len(lines)}: malformed row with \d+ tab-separated fields"):
        load_glue_dir(tmp_path, task)


def test_mnli_needs_both_validation_files(tmp_path):
    write_task(tmp_path, TASKS["mnli"], (4, 3, 3))
    (tmp_path / "MNLI" / "dev_mismatched.tsv").unlink()
    with pytest.raises(FinetuneError, match=r"MNLI/dev_mismatched.tsv is missing"):
        load_glue_dir(tmp_path, TASKS["mnli"])


def test_a_header_without_the_tasks_column_is_named(tmp_path):
    write_task(tmp_path, TASKS["qnli"], (3, 3))
    path = tmp_path / "QNLI" / "dev.tsv"
    path.write_text(path.read_text(encoding="utf-8").replace("question\t", "query\t", 1), encoding="utf-8")
    with pytest.raises(FinetuneError, match=r"dev.tsv:1: the header .* has no column 'question'"):
        load_glue_dir(tmp_path, TASKS["qnli"])


def source_counts(glue_dir, folder):
    """Row counts and checksums from the data's SOURCE.md table: {file: (rows, sha256)}."""
    text = (glue_dir / folder / "SOURCE.md").read_text(encoding="utf-8")
    return {m.group(1): (int(m.group(2)), m.group(3))
            for m in re.finditer(r"^\| (\w+\.tsv) \| \w+ \| (\d+) \|.*\| ([0-9a-f]{64}) \|$", text, re.M)}


@pytest.mark.parametrize("name, counts", [
    ("sst2", {"train": {1: 37569, 0: 29780}, "validation": {1: 444, 0: 428}}),
    ("rte", {"train": {0: 1249, 1: 1241}, "validation": {0: 146, 1: 131}}),
    ("mrpc", {"train": {1: 2474, 0: 1194}, "validation": {1: 279, 0: 129}}),
])
def test_the_real_files_give_the_hubs_rows_and_labels(real_glue_dir, name, counts):
    from pathlib import Path

    task = TASKS[name]
    folder = Path(real_glue_dir) / task.glue_folder
    if (folder / "SOURCE.md").is_file():  # the files are the ones SOURCE.md describes (rows and checksum)
        for file, (rows, sha256) in source_counts(Path(real_glue_dir), task.glue_folder).items():
            assert hashlib.sha256((folder / file).read_bytes()).hexdigest() == sha256, file
    splits = load_glue_dir(real_glue_dir, task)
    for split, labels in counts.items():
        assert collections.Counter(splits[split]["label"]) == labels  # the Hub's row and label counts
        assert len(splits[split]) == task.hub_rows[split]
        assert splits[split].features == hub_features(task)
        assert all(all(splits[split][c]) for c in task.text_columns)  # no empty text


def test_every_tasks_metric_matches_the_libraries_evaluate_calls():
    """The local definitions against sklearn's and scipy's (what evaluate's glue metric computes)."""
    import numpy as np
    from scipy import stats
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 2, 80), rng.integers(0, 2, 80)
    cola = metrics.local_glue(TASKS["cola"], predictions, labels)
    assert cola == {"matthews_correlation": pytest.approx(matthews_corrcoef(labels, predictions))}
    three, truth = rng.integers(0, 3, 80), rng.integers(0, 3, 80)
    assert metrics.local_glue(TASKS["mnli"], three, truth) == {"accuracy": pytest.approx(accuracy_score(truth, three))}
    qqp = metrics.local_glue(TASKS["qqp"], predictions, labels)
    assert qqp == {"accuracy": pytest.approx(accuracy_score(labels, predictions)),
                   "f1": pytest.approx(f1_score(labels, predictions))}
    scores, guesses = rng.uniform(0, 5, 60), rng.uniform(0, 5, 60)
    stsb = metrics.local_glue(TASKS["stsb"], guesses, scores)
    assert stsb == {"pearson": pytest.approx(stats.pearsonr(guesses, scores)[0]),
                    "spearmanr": pytest.approx(stats.spearmanr(guesses, scores)[0])}
    assert metrics.local_glue(TASKS["stsb"], np.full(60, 2.5), scores)["pearson"] == 0.0  # constant: 0, not NaN
    assert metrics.local_glue(TASKS["cola"], np.ones(80, int), labels)["matthews_correlation"] == 0.0
    assert metrics.collapsed(np.full(60, 2.5), num_labels=1) == "constant" and metrics.collapsed(guesses, 1) is None
