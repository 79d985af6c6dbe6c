"""The course's claims and the quality gate can fail: planted faults (a fix that behaves like the string loss, a
margin one example short, a collapsed fix inside a band) are caught."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.judge import claims
from bench.judge import verdicts
from bench.session.tiers import CI_TRAIN_ROWS, TIERS, WINNER
from bench.store.baselines import Figure

ROOT = Path(__file__).resolve().parent.parent

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
    from bench.session.tiers import CI_TRAIN_ROWS, LARGE_TASK_ROWS, TIERS, Options

    def options(task, tier):
        return Options("tiny", "test", task, TIERS[tier], "test", 1, None, (0,), None, False, 0.0)

    assert options("mrpc", "full").train_rows is None and options("rte", "full").train_rows is None
    assert options("sst2", "full").train_rows == LARGE_TASK_ROWS == options("mnli", "full").train_rows
    assert {options(task, "ci").train_rows for task in ("mrpc", "sst2", "rte")} == {CI_TRAIN_ROWS}
    assert "the first 10000" in options("sst2", "full").describe() and "task sst2" in options("sst2", "full").describe()


def ci_options(task="mrpc", model="minilm-l6", engine="tf-keras", backend=None, tier="ci"):
    from bench.session.tiers import Options

    return Options(model, "test", task, TIERS[tier], "test", 1, None, (0,), None, False, 0.0, engine, backend)


@pytest.mark.parametrize("task, model, engine, backend, why", [
    ("mrpc", "minilm-l6", "tf-keras", None, None),  # measured: seeds 0-4 hold the claims
    ("sst2", "minilm-l6", "tf-keras", None, None),
    ("mrpc", "minilm-l6", "keras3", "jax", None),
    ("mrpc", "tiny", "tf-keras", None, "on mrpc with tiny on tf-keras (1 epoch(s) over the first 2400 rows): not "
                                       "measured to hold them"),  # the run: every recipe collapsed
    ("mrpc", "bert-base-uncased", "tf-keras", None, "with bert-base-uncased on tf-keras"),  # a Hub model
    ("sst2", "minilm-l6", "keras3", "jax", "on sst2 with minilm-l6 on keras3-jax (1 epoch(s) over the first 2400 "
                                           "rows): not measured"),
    ("mrpc", "minilm-l6", "keras3", "torch", "on keras3-torch (1 epoch(s) over the first 2400 rows): measured, and "
                                             "not shown: one seed"),
    ("rte", "minilm-l6", "tf-keras", None, "measured, and not shown: its own seeds do not hold the claims: seed 2"),
])
def test_the_ci_tier_shows_the_claims_only_on_a_measured_task_model_and_engine(task, model, engine, backend, why):
    """CI_CLAIMS_MEASURED is keyed by (task, model, engine): the tiny model or a Hub model on MRPC, or keras3 where it
    was not measured, is a declared skip naming the combination; the full tier checks the claims everywhere."""
    reason = ci_options(task, model, engine, backend).claims_not_shown()
    if why is None:
        assert reason is None
    else:
        assert reason.startswith("tier ci ") and why in reason and reason.endswith("--tier full checks them"), reason
        assert "\n" not in reason and "CI_CLAIMS_MEASURED" in reason
    assert ci_options(task, model, engine, backend, tier="full").claims_not_shown() is None


# Each task's majority class in whole validation examples (what a collapse scores; docs/tasks.md) and its size.
MAJORITY_OF = {"mrpc": (279, 408), "sst2": (444, 872), "rte": (146, 277)}


def stored_fix_seeds(task: str, engine: str) -> list[int]:
    """The fix's stored CI-tier accuracies, in validation examples, over every stored host of minilm-l6."""
    from bench.store import baselines

    key = baselines.quality_key(task, *WINNER, 1, CI_TRAIN_ROWS, 8, engine)
    pairs = MAJORITY_OF[task][1]
    found = {}
    for path in sorted((ROOT / "baselines").glob("minilm-l6__*.json")):
        group = (baselines.load(path).get("figures") or {}).get(key)
        if group:
            found.update({(path.name, seed): round(value * pairs) for seed, value in
                          zip(group["provenance"]["seeds"], group["accuracy"]["values"])})
    return list(found.values())


def test_each_shown_ci_claim_rests_on_stored_seeds_that_hold_it_and_rte_is_dropped_by_its_own():
    """A shown row: at least 3 stored seeds of the fix in baselines/, each at least CLEAR_PAIRS examples ahead of
    the majority class (where the Adam runs collapse), as the claim asks. RTE's own seeds do not all hold it (seed 2:
    3 pairs ahead), so it is dropped from the CI tier's claims with that reason."""
    from bench.judge.claims import CLEAR_PAIRS
    from bench.session.tiers import CI_CLAIMS_MEASURED
    from finetune.models import MODELS
    from finetune.tasks import TASKS

    for (task, model, engine), row in CI_CLAIMS_MEASURED.items():
        assert task in TASKS and model in MODELS and engine.split("-")[0] in ("tf", "keras3") and row.measured
        if row.dropped is None:
            seeds = stored_fix_seeds(task, engine)
            assert len(seeds) >= 3, (task, model, engine, seeds)
            assert min(seeds) - MAJORITY_OF[task][0] >= CLEAR_PAIRS, (task, model, engine, seeds)
    rte = CI_CLAIMS_MEASURED[("rte", "minilm-l6", "tf-keras")]
    assert rte.dropped and min(stored_fix_seeds("rte", "tf-keras")) - MAJORITY_OF["rte"][0] < CLEAR_PAIRS
    shown = {key for key, row in CI_CLAIMS_MEASURED.items() if row.dropped is None}
    assert shown == {("mrpc", "minilm-l6", "tf-keras"), ("sst2", "minilm-l6", "tf-keras"),
                     ("mrpc", "minilm-l6", "keras3-jax")}


def test_the_tiny_model_in_the_ci_tier_skips_the_claims_as_its_header_declares(real_glue_dir):
    """The issue's run: `pytest bench/test_quality.py --tier ci --model tiny` on MRPC failed test_course_claims after
    four fine-tunes (every recipe collapsed to 0.6838). Now the header says before the first test that the claims
    are not shown for tiny, and the test is that skip, with the same reason, without a fine-tune."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_quality.py::test_course_claims", "--model", "tiny", "--tier", "ci",
         "--task", "mrpc", "--glue-dir", real_glue_dir, "-p", "no:cacheprovider", "-rs", "--progress", "off"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    (header,) = [i for i, line in enumerate(lines) if line.startswith("finetune: claims not shown in this session: ")]
    assert "tier ci on mrpc with tiny on tf-keras" in lines[header] and "not measured" in lines[header]
    assert header < next(i for i, line in enumerate(lines) if "test_quality.py" in line)
    (skipped,) = [line for line in lines if line.startswith("SKIPPED")]
    assert "tier ci on mrpc with tiny on tf-keras" in skipped and "1 skipped" in lines[-1]
    assert "fine-tuning results" not in done.stdout  # nothing trained: the summary has no fine-tune to show
