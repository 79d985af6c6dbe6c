"""The course's claims and the quality gate can fail: planted faults (a fix that behaves like the string loss, a
margin one example short, a collapsed fix inside a band) are caught."""

from types import SimpleNamespace

from bench import claims, verdicts
from bench.options import TIERS, WINNER
from bench.store import Figure

PAIRS = 408  # MRPC's validation pairs
MAJORITY = 279 / PAIRS  # 0.6838


def run(correct: int, collapsed=None):
    return SimpleNamespace(accuracy=correct / PAIRS, f1=0.8, collapsed=collapsed, majority_accuracy=MAJORITY,
                           num_eval_examples=PAIRS, scores={"accuracy": correct / PAIRS, "f1": 0.8})


def results(fix: int, string_decay: int, string_decay_collapsed=None):
    return {WINNER: run(fix), ("string", "linear-decay"): run(string_decay, string_decay_collapsed),
            ("from_logits", "adam"): run(279, "all-negative"), ("string", "adam"): run(279, "all-negative")}


def test_the_claims_hold_for_the_measured_ci_tier_outcome():
    # seed 0 of the CI tier here: the fix 0.7108 (290 pairs); string + linear-decay collapsed, both adams collapsed
    assert claims.failures(results(290, 279, "all-negative"), WINNER, TIERS["ci"].learner_pairs) == []


def test_a_fix_that_behaves_like_the_string_loss_fails_the_ci_tier_claim():
    """The mutation of the issue: from_logits computing what string computes ties with string + linear-decay."""
    failures = claims.failures(results(300, 300), WINNER, TIERS["ci"].learner_pairs, tier="ci")
    assert len(failures) == 1 and "string+linear-decay" in failures[0] and "(0 ahead, tier ci)" in failures[0]


def test_the_clear_margin_is_whole_examples_eight_passes_and_seven_fails():
    assert claims.failures(results(287, 279, "all-negative"), WINNER, 8) == []  # 8 pairs = 0.0196 < 0.02
    found = claims.failures(results(286, 279, "all-negative"), WINNER, 8)  # 7 ahead of each collapsed recipe
    assert len(found) == 3 and all("not 8 validation example(s) below" in f and "7 ahead" in f for f in found)
    assert claims.failures(results(310, 303), WINNER, TIERS["full"].learner_pairs)  # a learner 7 behind: fails


def test_a_fix_that_did_not_learn_fails_even_when_it_is_ahead():
    found = claims.failures({**results(290, 200), WINNER: run(279, "all-positive")}, WINNER, 1)
    assert any("the course's fix did not learn" in f for f in found)


def test_a_band_of_collapsed_runs_is_no_gate_and_a_learned_band_excludes_a_collapse():
    collapsed = {"accuracy": Figure.of([0.3162, 0.3162]).to_dict(), "collapsed": ["all-negative", "all-negative"]}
    passed, message = verdicts.check_quality("accuracy", 0.6838, collapsed, "here", resolution=1 / PAIRS)
    assert passed is None and "every stored run collapsed (all-negative)" in message
    # the CI tier's fix here: 5 seeds, none collapsed; a collapsed run (0.6838) is outside its band
    fix = {"accuracy": Figure.of([0.7108, 0.7181, 0.7206, 0.7132, 0.7083]).to_dict(), "collapsed": [None] * 5}
    passed, message = verdicts.check_quality("accuracy", MAJORITY, fix, "here", resolution=1 / PAIRS)
    assert passed is False and "OUTSIDE" in message


def regression(pearson: float, collapsed=None):
    return SimpleNamespace(accuracy=None, f1=None, collapsed=collapsed, majority_accuracy=None, num_eval_examples=1500,
                           scores={"pearson": pearson, "spearmanr": pearson})


def test_a_regression_claims_the_optimizer_only_and_fails_a_fix_that_does_not_learn():
    """STS-B: both losses are mean squared error, so the string loss may tie with the fix; default Adam may not
    learn. The fix must learn (a positive Pearson) and be below no recipe."""
    learned = {WINNER: regression(0.80), ("string", "linear-decay"): regression(0.80),
               ("from_logits", "adam"): regression(0.0, "constant"), ("string", "adam"): regression(0.05)}
    assert claims.failures(learned, WINNER, learner_pairs=1, regression=True) == []
    beaten = {**learned, ("string", "adam"): regression(0.81)}
    (failure,) = claims.failures(beaten, WINNER, learner_pairs=1, regression=True)
    assert failure.startswith("string+adam Pearson 0.8100 is not below")
    constant = {**learned, WINNER: regression(0.0, "constant")}
    assert any("did not learn" in f for f in claims.failures(constant, WINNER, learner_pairs=1, regression=True))
    negative = {**learned, WINNER: regression(-0.2)}
    assert any("did not learn" in f for f in claims.failures(negative, WINNER, learner_pairs=1, regression=True))


def test_a_large_tasks_full_tier_trains_on_a_slice_and_the_ci_tier_on_its_rows():
    from bench.options import CI_TRAIN_ROWS, LARGE_TASK_ROWS, TIERS, Options

    def options(task, tier):
        return Options("tiny", "test", task, TIERS[tier], "test", 1, None, (0,), None, False, 0.0)

    assert options("mrpc", "full").train_rows is None and options("rte", "full").train_rows is None
    assert options("sst2", "full").train_rows == LARGE_TASK_ROWS == options("mnli", "full").train_rows
    assert {options(task, "ci").train_rows for task in ("mrpc", "sst2", "rte")} == {CI_TRAIN_ROWS}
    assert "the first 10000" in options("sst2", "full").describe() and "task sst2" in options("sst2", "full").describe()
