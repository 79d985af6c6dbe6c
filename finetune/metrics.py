"""GLUE MRPC metrics: accuracy and binary F1 of the positive class (paraphrase = 1).

`evaluate.load("glue", "mrpc")` is used where the Hub answers; offline, the same definition
(sklearn's accuracy_score and f1_score, which evaluate's glue metric calls) is computed here, and
the result says which one ran. A run whose predictions are all one class is named as collapsed.
"""

from __future__ import annotations

import numpy as np

from finetune import environment

LOCAL_SOURCE = "local: accuracy and binary F1 as in evaluate's glue/mrpc"


def local_glue_mrpc(predictions, references) -> dict:
    predictions = np.asarray(predictions)
    references = np.asarray(references)
    true_pos = int(np.sum((predictions == 1) & (references == 1)))
    false_pos = int(np.sum((predictions == 1) & (references == 0)))
    false_neg = int(np.sum((predictions == 0) & (references == 1)))
    denominator = 2 * true_pos + false_pos + false_neg
    return {
        "accuracy": float(np.mean(predictions == references)),
        "f1": 2 * true_pos / denominator if denominator else 0.0,
    }


def glue_mrpc(predictions, references) -> tuple[dict, str]:
    """(scores, source): evaluate's glue/mrpc where it can be loaded, else the identical local metric."""
    if not environment.hub_reachable():
        return local_glue_mrpc(predictions, references), LOCAL_SOURCE + " (Hub unreachable)"
    try:
        import evaluate

        metric = evaluate.load("glue", "mrpc")
        scores = metric.compute(predictions=predictions, references=references)
        return {name: float(value) for name, value in scores.items()}, "evaluate: glue/mrpc"
    except Exception as err:  # any failure to fetch or run the Hub's metric script falls back, said in the result
        return local_glue_mrpc(predictions, references), f"{LOCAL_SOURCE} (evaluate.load failed: {err.__class__.__name__})"


def majority_accuracy(labels) -> float:
    """The accuracy of always predicting the most common label: what a constant model scores at best
    (MRPC validation: 279 of 408 positive, 0.6838)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    return float(counts.max() / counts.sum())


def learned(accuracy: float, collapsed: str | None, majority: float | None) -> bool:
    """False for a run that collapsed, or that predicts both classes but worse than a constant would (below the
    majority class); `majority` None (not recorded) leaves only the collapse test."""
    return not collapsed and (majority is None or accuracy >= majority)


def verdict(accuracy: float, collapsed: str | None, majority: float | None) -> str:
    """How a fine-tune ended, in words for summaries, reports and failure messages."""
    if collapsed:
        return f"COLLAPSED to {collapsed} (constant prediction)"
    if not learned(accuracy, collapsed, majority):
        return f"BELOW the majority class ({majority:.4f}): did not learn"
    return "learned"


def collapsed(predictions, num_labels: int) -> str | None:
    """'all-positive' / 'all-negative' when every prediction is one class (the course's failure), else None."""
    classes = np.unique(np.asarray(predictions))
    if len(classes) != 1:
        return None
    label = int(classes[0])
    if num_labels == 2:
        return "all-positive" if label == 1 else "all-negative"
    return f"all-class-{label}"
