"""GLUE metrics of every task (finetune.tasks: accuracy, binary F1 of the positive class, Matthews correlation,
Pearson and Spearman correlation), and the names for a run that did not learn.

`evaluate.load("glue", task)` is used where the Hub answers; offline, the same definitions (those of sklearn and
scipy that evaluate's glue metric calls) are computed here, and the result says which one ran. A run whose
predictions are all one class (or, for a regression, one value) is named as collapsed.
"""

from __future__ import annotations

import numpy as np

from finetune import environment
from finetune.tasks import ACCURACY, F1, MCC, PEARSON, SPEARMAN, TASKS, TaskSpec

LOCAL_SOURCE = "local: the definitions of evaluate's glue/{task}"


def _f1(predictions, references) -> float:
    true_pos = int(np.sum((predictions == 1) & (references == 1)))
    false_pos = int(np.sum((predictions == 1) & (references == 0)))
    false_neg = int(np.sum((predictions == 0) & (references == 1)))
    denominator = 2 * true_pos + false_pos + false_neg
    return 2 * true_pos / denominator if denominator else 0.0


def _matthews(predictions, references) -> float:
    """sklearn's matthews_corrcoef (any number of classes); 0.0 where it is undefined, as there."""
    classes = np.union1d(predictions, references)
    confusion = np.array([[np.sum((references == t) & (predictions == p)) for p in classes] for t in classes],
                         dtype=np.float64)
    t_sum, p_sum = confusion.sum(axis=1), confusion.sum(axis=0)
    n_correct, n = np.trace(confusion), confusion.sum()
    cov_tp = n_correct * n - np.dot(t_sum, p_sum)
    cov_pp, cov_tt = n * n - np.dot(p_sum, p_sum), n * n - np.dot(t_sum, t_sum)
    return float(cov_tp / np.sqrt(cov_tt * cov_pp)) if cov_tt * cov_pp else 0.0


def _correlation(kind: str, predictions, references) -> float:
    """scipy's pearsonr / spearmanr statistic; 0.0 for a constant prediction (where scipy gives NaN)."""
    from scipy import stats

    if np.ptp(predictions) == 0 or np.ptp(references) == 0:
        return 0.0
    found = (stats.pearsonr if kind == PEARSON else stats.spearmanr)(predictions, references)
    return float(found[0])


def local_glue(task: TaskSpec, predictions, references) -> dict:
    """The task's GLUE metrics, as evaluate's glue metric defines them."""
    predictions, references = np.asarray(predictions), np.asarray(references)
    compute = {
        ACCURACY: lambda: float(np.mean(predictions == references)),
        F1: lambda: _f1(predictions, references),
        MCC: lambda: _matthews(predictions, references),
        PEARSON: lambda: _correlation(PEARSON, predictions.astype(np.float64), references.astype(np.float64)),
        SPEARMAN: lambda: _correlation(SPEARMAN, predictions.astype(np.float64), references.astype(np.float64)),
    }
    return {name: compute[name]() for name in task.metrics}


def constant_scores(task: TaskSpec, references) -> dict:
    """{metric: {label id: the score of predicting that label for every example}}: what a run that collapsed to one
    class scores (a classification task; a regression has no classes)."""
    references = np.asarray(references)
    return {name: {label: local_glue(task, np.full_like(references, label), references)[name]
                   for label in range(task.num_labels)}
            for name in task.metrics if name in (ACCURACY, F1, MCC)}


def local_glue_mrpc(predictions, references) -> dict:
    return local_glue(TASKS["mrpc"], predictions, references)


def glue_scores(task: TaskSpec, predictions, references) -> tuple[dict, str]:
    """(scores, source): evaluate's glue/<task> where it can be loaded, else the identical local definitions."""
    local = LOCAL_SOURCE.format(task=task.name)
    if not environment.hub_reachable():
        return local_glue(task, predictions, references), local + " (Hub unreachable)"
    try:
        import evaluate

        metric = evaluate.load("glue", task.name)
        scores = metric.compute(predictions=predictions, references=references)
        return {name: float(value) for name, value in scores.items()}, f"evaluate: glue/{task.name}"
    except Exception as err:  # any failure to fetch or run the Hub's metric script falls back, said in the result
        return local_glue(task, predictions, references), f"{local} (evaluate.load failed: {err.__class__.__name__})"


def glue_mrpc(predictions, references) -> tuple[dict, str]:
    return glue_scores(TASKS["mrpc"], predictions, references)


def scores_text(scores: dict | None, accuracy: float | None = None, f1: float | None = None) -> str:
    """'accuracy 0.8578  F1 0.8997', 'matthews_correlation 0.4100', ...: a result's GLUE metrics in words (results
    from before `scores`: accuracy and F1)."""
    scores = scores or {name: value for name, value in (("accuracy", accuracy), ("f1", f1)) if value is not None}
    return "  ".join(f"{'F1' if name == 'f1' else name} {value:.4f}" for name, value in scores.items())


def majority_accuracy(labels) -> float:
    """The accuracy of always predicting the most common label: what a constant model scores at best
    (MRPC validation: 279 of 408 positive, 0.6838)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    return float(counts.max() / counts.sum())


CONSTANT = 1e-4  # a regression's predictions within this spread (standard deviation) are one value


def collapsed(predictions, num_labels: int) -> str | None:
    """'all-positive' / 'all-negative' when every prediction is one class (the course's failure), 'all-class-K'
    for more classes, 'constant' when a regression (one output) predicts one value; else None."""
    if num_labels == 1:
        return "constant" if float(np.std(np.asarray(predictions, dtype=np.float64))) < CONSTANT else None
    classes = np.unique(np.asarray(predictions))
    if len(classes) != 1:
        return None
    label = int(classes[0])
    if num_labels == 2:
        return "all-positive" if label == 1 else "all-negative"
    return f"all-class-{label}"
