"""Quality: loss {string, from_logits} x optimizer {adam, linear-decay}, each a real fine-tune on MRPC.

    pytest bench/test_quality.py --benchmark-json=quality.json
"""

import pytest

from bench.suite import CLEAR_MARGIN, VARIANTS, WINNER, gate_of, skip_if_ungated
from finetune import baselines, metrics


def _collapse_note(result) -> str:
    """' [COLLAPSED ...]' or ' [BELOW the majority class ...]' for a run that did not learn, else ''."""
    if metrics.learned(result.accuracy, result.collapsed, result.majority_accuracy):
        return ""
    return f" [{metrics.verdict(result.accuracy, result.collapsed, result.majority_accuracy)}]"


@pytest.mark.parametrize("loss, optimizer", VARIANTS, ids=[f"{l}-{o}" for l, o in VARIANTS])
def test_quality(benchmark, suite, loss, optimizer, seed, request):
    benchmark.group = f"quality {suite.options.model} {suite.options.epochs} epoch(s)"
    result = benchmark.pedantic(suite.quality, args=(loss, optimizer, seed), rounds=1, iterations=1)
    benchmark.extra_info.update(suite.quality_info(result))
    verdicts = [(name, suite.compare(request.node.nodeid, name, getattr(result, name),
                                     suite.quality_key(loss, optimizer), resolution=1 / result.num_eval_examples,
                                     limits=baselines.SCORE_RANGE)) for name in ("accuracy", "f1")]
    benchmark.extra_info["gate"] = gate_of(verdicts)
    failures = [message + _collapse_note(result) for _, (passed, message) in verdicts if passed is False]
    assert not failures, "; ".join(failures)
    skip_if_ungated(benchmark.extra_info["gate"])


def test_course_claims(suite, seed):
    """from_logits + linear-decay learns, and beats every other variant on accuracy: by a clear margin those
    that did not learn, and by the tier's margin those that learned (the course: by a clear margin)."""
    results = {variant: suite.quality(*variant, seed) for variant in VARIANTS}
    best = results[WINNER]
    assert not _collapse_note(best), (f"{'+'.join(WINNER)} accuracy {best.accuracy:.4f}, F1 {best.f1:.4f}"
                                      f"{_collapse_note(best)}: the course's fix did not learn")
    failures = []
    for (loss, optimizer), r in results.items():
        learned = metrics.learned(r.accuracy, r.collapsed, r.majority_accuracy)
        margin = suite.options.tier.learner_margin if learned else CLEAR_MARGIN
        if (loss, optimizer) != WINNER and best.accuracy - r.accuracy < margin:
            failures.append(f"{loss}+{optimizer} accuracy {r.accuracy:.4f}{_collapse_note(r)} is not {margin} below "
                            f"{'+'.join(WINNER)}'s {best.accuracy:.4f} (tier {suite.options.tier.name})")
    assert not failures, "the course's claim does not hold: " + "; ".join(failures)
