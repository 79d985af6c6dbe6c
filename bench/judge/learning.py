"""Whether a fine-tune learned: not collapsed to one class, and no worse than a constant prediction (the majority
class; for a regression, a positive correlation). Every gate that asks "did it learn?" asks here."""

from __future__ import annotations


def learned(accuracy: float | None, collapsed: str | None, majority: float | None,
            correlation: float | None = None) -> bool:
    """False for a run that collapsed, or that predicts several classes but worse than a constant would (below the
    majority class); `majority` None (not recorded) leaves only the collapse test. A regression (accuracy None)
    learned when its predictions are not one value and correlate positively with the scores (a constant
    prediction correlates 0)."""
    if accuracy is None:
        return not collapsed and (correlation is None or correlation > 0.0)
    return not collapsed and (majority is None or accuracy >= majority)


def verdict(accuracy: float | None, collapsed: str | None, majority: float | None,
            correlation: float | None = None) -> str:
    """How a fine-tune ended, in words for summaries, reports and failure messages."""
    if collapsed:
        return f"COLLAPSED to {collapsed} (constant prediction)"
    if not learned(accuracy, collapsed, majority, correlation):
        if accuracy is None:
            return f"Pearson {correlation:.4f}: no better than a constant prediction, did not learn"
        return f"BELOW the majority class ({majority:.4f}): did not learn"
    return "learned"


def state(r) -> tuple:
    """(accuracy, collapsed, majority, correlation) of a Result or a quality record: learned(*state(r))."""
    return r.accuracy, r.collapsed, r.majority_accuracy, (getattr(r, "scores", None) or {}).get("pearson")
