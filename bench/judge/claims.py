"""The course's claims as relations between the recipes' results, apart from the tests that run them (so that a
unit test can plant a fault and watch them fail).

Margins are counted in validation examples (pairs, for MRPC), the unit accuracy moves in: 8 of MRPC's 408 pairs is
0.0196, and a margin typed as 0.02 would silently demand 9.
"""

from __future__ import annotations

from bench.judge import learning
from finetune import metrics

CLEAR_PAIRS = 8  # the fix beats a recipe that did not learn by at least this many validation examples


def note(result) -> str:
    """' [COLLAPSED ...]' or ' [BELOW the majority class ...]' for a run that did not learn, else ''."""
    if learning.learned(*learning.state(result)):
        return ""
    return f" [{learning.verdict(*learning.state(result))}]"


def failures(results: dict, winner: tuple, learner_pairs: int, clear_pairs: int = CLEAR_PAIRS,
             tier: str = "", regression: bool = False) -> list[str]:
    """What does not hold of the course's claims. `results`: recipe -> a Result (accuracy, collapsed,
    majority_accuracy, num_eval_examples, scores).

    Classification (every GLUE task but STS-B): the winner learns, and beats every other recipe's accuracy by
    `clear_pairs` validation examples where that recipe did not learn, by `learner_pairs` where it did.
    Regression (STS-B): the logits pitfall does not exist (both ways of giving the loss are mean squared error),
    so the claim is the optimizer's: the winner learns (not one value, a positive Pearson correlation), beats by
    Pearson every recipe that did not learn, and is not below any that did."""
    if regression:
        return _regression_failures(results, winner, tier)
    best = results[winner]
    found = []
    if note(best):
        found.append(f"{'+'.join(winner)} {metrics.scores_text(best.scores, best.accuracy, best.f1)}{note(best)}: "
                     "the course's fix did not learn")
    for recipe, r in results.items():
        if recipe == winner:
            continue
        pairs = clear_pairs if note(r) else learner_pairs
        ahead = round((best.accuracy - r.accuracy) * best.num_eval_examples)  # whole examples, no float drift
        if ahead < pairs:
            found.append(f"{'+'.join(recipe)} accuracy {r.accuracy:.4f}{note(r)} is not {pairs} validation "
                         f"example(s) below {'+'.join(winner)}'s {best.accuracy:.4f} ({ahead} ahead"
                         + (f", tier {tier})" if tier else ")"))
    return found


def _regression_failures(results: dict, winner: tuple, tier: str) -> list[str]:
    best = results[winner]
    pearson = best.scores["pearson"]
    found = [] if not note(best) else [f"{'+'.join(winner)} Pearson {pearson:.4f}{note(best)}: the course's fix did "
                                       "not learn"]
    for recipe, r in results.items():
        other = r.scores["pearson"]
        if recipe != winner and (other > pearson or (note(r) and other >= pearson)):
            found.append(f"{'+'.join(recipe)} Pearson {other:.4f}{note(r)} is not below {'+'.join(winner)}'s "
                         f"{pearson:.4f}" + (f" (tier {tier})" if tier else ""))
    return found
