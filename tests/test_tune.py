"""bench.tune: candidates named in one line each, the decision on measured times (paired over replicates, ties to
the candidate that changes no arithmetic), the stored choice that --perf best reads with its speed claim, --store
refused on a dirty tree, the collapse rule in every band check outside bench/judge/verdicts.py (tune's quality check, the
gate's fix band, the report's cell), and a whole run on the numpy engine that picks the faster of a planted pair
while naming the candidates it cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.judge import blocks
from bench.judge import ranking
from bench.tune import candidates
from bench.report import tables
from bench.tune import cli as tune
from bench.tune import quality, storing
from bench.judge import verdicts
from bench.store.baselines import Figure
from finetune import FinetuneError, perf, tuned_choice
from finetune.hardware import Host

ROOT = Path(__file__).resolve().parent.parent
FAKE = "fake=tests.fake_engine:FakeEngine"


def test_a_candidate_names_a_variant_an_engine_and_threads_or_says_what_is_wrong():
    c = candidates.parse("buckets@keras3-jax:inter=1:intra=2", "tf-keras")
    assert (c.variant, c.engine, c.threads) == ("buckets", "keras3-jax", (("inter", 1), ("intra", 2)))
    assert c.env() == {"TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "2"}
    assert candidates.parse("xla-buckets", "tf-keras").process == ("tf-keras", ())
    assert not candidates.parse("multiple8", "tf-keras").changes_numerics  # padding only
    assert candidates.parse("multiple8@keras3-jax", "tf-keras").changes_numerics  # another engine's kernels
    assert candidates.engine_of("keras3-torch") == ("keras3", "torch")
    for text, message in (("nope", r"unknown variant 'nope': choose one of course, "),
                          ("course@nope", r"unknown engine 'nope'"), ("course:intra=0", r"setting 'intra=0'"),
                          ("mirrored", r"mirrored distributes the step")):
        with pytest.raises(FinetuneError, match=message):
            candidates.parse(text, "tf-keras")


def test_the_fastest_significant_candidate_is_chosen_ties_going_to_unchanged_arithmetic():
    times = {"course": [100.0, 104.0, 98.0], "xla-buckets": [60.0, 63.0, 58.5],  # changes the arithmetic
             "multiple8": [61.0, 62.5, 59.0],  # as fast, within the noise: changes nothing
             "fixed": [99.0, 105.0, 97.0], "bucket": [80.0, 84.0, 79.0]}
    found = {name: candidates.parse(name, "tf-keras") for name in times}
    rows = ranking.judged(times, "course")
    assert rows["xla-buckets"]["faster"] and not rows["fixed"]["faster"] and rows["course"]["ratio"] == 1.0
    assert rows["multiple8"]["indistinguishable"] and not rows["bucket"]["indistinguishable"]
    assert ranking.ranked(rows)[0] == "xla-buckets"
    assert ranking.shortlist(rows, found, "course") == ["multiple8", "xla-buckets", "bucket", "course"]
    nothing = ranking.judged({"course": [100.0, 101.0], "fixed": [100.5, 100.0]}, "course")
    assert ranking.shortlist(nothing, found, "course") == ["course"]  # nothing pays: the course stays


def test_the_whole_fine_tune_is_projected_with_each_candidates_compiles():
    """A step 0.75x the course's whose first pass compiles for 40 s more: over 459 steps (one MRPC epoch) the
    compiles eat the gain (as measured for xla-buckets on the AMX Xeon: median step 0.70x, the epoch 1.05x), over
    1377 steps it keeps some; a first pass no slower than a steady one adds nothing."""
    rows = ranking.judged({"course": [280.0, 276.0, 282.0], "xla-buckets": [210.0, 207.0, 211.0]}, "course")
    firsts = {"course": [12 * 0.280 + 8.0] * 3, "xla-buckets": [12 * 0.209 + 48.0] * 3}  # 12 batches a pass
    ranking.projected(rows, firsts, batches=12, steps=459, baseline="course")
    one_epoch = rows["xla-buckets"]["whole"]
    assert one_epoch["compile_s"] == pytest.approx(48.0, abs=0.5) and rows["course"]["whole"]["ratio"] == 1.0
    assert 1.0 < one_epoch["ratio"] < 1.1 and one_epoch["low"] < one_epoch["ratio"] < one_epoch["high"]
    ranking.projected(rows, firsts, batches=12, steps=1377, baseline="course")
    assert 0.8 < rows["xla-buckets"]["whole"]["ratio"] < 0.9 and rows["xla-buckets"]["ratio"] < 0.76
    warm = {"course": [1.0] * 3, "xla-buckets": [1.0] * 3}  # faster than a steady pass: no compile
    ranking.projected(rows, warm, batches=12, steps=459, baseline="course")
    assert rows["xla-buckets"]["whole"]["compile_s"] == 0.0
    assert rows["xla-buckets"]["whole"]["ratio"] == pytest.approx(rows["xla-buckets"]["ratio"], rel=0.01)


def test_the_paired_test_is_on_the_replicates_log_ratios():
    verdict = blocks.paired_test([100.0, 200.0, 150.0], [50.0, 101.0, 74.0])  # each replicate about halved
    assert 0.49 < verdict.ratio < 0.51 and verdict.faster and verdict.high < 0.6
    said = verdict.describe()  # the p of the verdict's own side: small, not the one-sided p for slower (near 1)
    assert said.startswith("faster: ") and float(said.split("p(faster) = ")[1].split()[0]) < 0.05, said
    with pytest.raises(ValueError, match="at least two replicates"):
        blocks.paired_test([100.0], [50.0])


def _store(directory, entry):
    path = tuned_choice.baseline_path(directory, "minilm-l6", Host.here().key("cpu"))
    path.write_text(json.dumps({"figures": {}, "tuned": {"mrpc/cpu/batch=8": entry}}))
    return path


def test_best_reads_the_stored_choice_for_its_engine_and_falls_back_to_the_rule(tmp_path):
    row = {"variant": "xla-buckets", "ratio": 0.61, "low": 0.58, "high": 0.64, "p": 0.001, "quality": "inside"}
    _store(tmp_path, {"by_engine": {"tf-keras": row}, "measured_at": "2026-12-03", "revision": "abc1234"})
    choice = tuned_choice.best_choice("cpu", "minilm-l6", directory=tmp_path)
    assert choice.variant == "xla-buckets" and choice.target == 0.64  # its interval's upper end: the claim
    assert "0.610x [0.580, 0.640]" in choice.evidence and "abc1234" in choice.evidence
    rule = perf.best_choice("cpu")
    other = tuned_choice.best_choice("cpu", "minilm-l6", engine="keras3-jax", directory=tmp_path)
    assert other.variant == rule.variant and other.needs == rule.needs  # nothing stored for that engine
    assert tuned_choice.best_choice("cpu", "minilm-l6", task="sst2", directory=tmp_path).variant == rule.variant
    _store(tmp_path, {"by_engine": {"tf-keras": {**row, "variant": "warp-speed"}}})
    with pytest.raises(FinetuneError, match=r"the tuned choice 'warp-speed' is not a finetune.perf variant"):
        tuned_choice.best_choice("cpu", "minilm-l6", directory=tmp_path)


def test_tune_picks_the_faster_of_a_planted_pair_and_names_what_it_cannot_run(real_glue_dir, tmp_path):
    """The numpy engine (every variant steps alike there), course and fixed planted 3x and 1x slower than multiple8
    (ratios 0.25 and 0.5): the choice must be multiple8, and fixed must rank between. An unknown variant and float16
    on a CPU are one line each; the others still run. Planted runs are never stored. Three replicates of 5 rounds:
    with two (a t-test of one degree of freedom) a loaded worker once left multiple8 at 0.311 [0.085, 1.137], not
    significantly faster, and the tune rightly chose fixed (1 run in 3 beside the killed-worker test)."""
    out = tmp_path / "tune.json"
    command = [sys.executable, "-m", "bench.tune", "--engine", "fake", "--model", "tiny", "--glue-dir", real_glue_dir,
               "--candidates", "course,multiple8,fixed,warp-speed,fp16-xla-bucket8", "--replicates", "3",
               "--rounds", "5", "--batches", "40", "--no-quality", "--plant-slowdown", "course=3",
               "--plant-slowdown", "fixed=1", "--store", "--baselines", str(tmp_path), "--json", str(out)]
    env = {**os.environ, "FINETUNE_ENGINES": FAKE, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    entry = json.loads(out.read_text())
    assert entry["choice"] == "multiple8", done.stdout
    assert ranking.ranked(entry["candidates"]) == ["multiple8", "fixed", "course"]
    assert entry["candidates"]["multiple8"]["faster"] and entry["by_engine"]["fake"]["variant"] == "multiple8"
    assert 0.15 < entry["candidates"]["multiple8"]["ratio"] < 0.4  # 1 / 4
    whole = entry["candidates"]["multiple8"]["whole"]  # 3 epochs of MRPC, each pass's first (compiling) pass
    assert whole["steps"] == 3 * 459 and whole["compile_s"] >= 0.0 and whole["ratio"] < 0.5, whole
    assert "whole 1377 steps" in done.stdout.splitlines()[0]
    assert "fp16-xla-bucket8" in entry["not_run"] and "mixed_float16" in entry["not_run"]["fp16-xla-bucket8"]
    lines = [line for line in done.stderr.splitlines() if "warp-speed" in line]
    assert len(lines) == 1 and "unknown variant 'warp-speed'" in lines[0]
    assert "Traceback" not in done.stderr and not list(tmp_path.glob("tiny__*.json"))  # planted: not stored


def test_tune_without_its_baseline_says_so_in_one_line(capsys):
    assert tune.main(["--candidates", "multiple8,fixed"]) == 2
    assert "the baseline 'course' is not among the candidates" in capsys.readouterr().err


def _tuned_row(**changes):
    row = {"variant": "xla-buckets", "ratio": 0.61, "low": 0.58, "high": 0.64, "quality": "inside", "engine": "tf-keras",
           "revision": "abc1234", "baseline": "course"}
    return {k: v for k, v in {**row, **changes}.items() if v is not None}


@pytest.mark.parametrize("changes, target, why", [
    ({}, 0.64, "target: the upper end of its training step's interval, 0.640x"),
    ({"whole": {"steps": 1377, "ratio": 0.7, "low": 0.66, "high": 0.7349}}, 0.735,
     "the upper end of its whole fine-tune of 1377 steps, compiles included's interval, 0.735x"),
    ({"ratio": None, "low": None, "high": None}, None, "stored without an interval"),
    ({"high": 1.02}, None, "interval up to 1.020x the course's, not faster: no speed claim"),
    ({"revision": "abc1234-dirty"}, None, "measured on a tree with uncommitted changes (abc1234-dirty)"),
    ({"dirty": True}, None, "uncommitted changes"),
    ({"baseline": "buckets"}, None, "judged against buckets on tf-keras, not the course on tf-keras"),
    ({"engine": "keras3-jax"}, None, "judged against course on tf-keras, not the course on keras3-jax"),
    ({"variant": "course", "ratio": 1.0, "low": 1.0, "high": 1.0}, None, "the course itself"),
])
def test_a_stored_choice_claims_its_intervals_upper_end_or_says_why_not(changes, target, why):
    """The stored choice's claim: what test_faster_than_the_course asserts on the machine that stored it."""
    found, said = tuned_choice.claim(_tuned_row(**changes))
    assert found == target and why in said, said


def _session(tmp_path, steps):
    """The session's best_choice (bench/session/what_runs.py) for a fine-tune of `steps` steps, reading `tmp_path`."""
    from types import SimpleNamespace

    from bench.session.suite import Suite

    fake = SimpleNamespace(perf_kind=lambda: "cpu", options=SimpleNamespace(model="minilm-l6", task="mrpc",
                                                                             engine_name="tf-keras",
                                                                             fine_tune_steps=steps),
                           engine=SimpleNamespace(label="tf-keras", speed_targets=True), host=None,
                           baseline_dir=tmp_path)
    fake.claim_at_this_length = lambda row: Suite.claim_at_this_length(fake, row)
    return Suite.best_choice(fake)


# xla-buckets as bench.tune stored it on the AVX512_BF16 EPYC (2026-12-07, at dd11ba6): step up to 0.829 and 51 s of
# compiles, the course 364.8 ms a step and 11 s
XLA_ROW = {"variant": "xla-buckets", "ratio": 0.794, "low": 0.761, "high": 0.8288, "quality": "inside",
           "whole": {"steps": 1377, "compile_s": 51.25, "ratio": 0.877, "low": 0.849, "high": 0.9069}}
COURSE = {"course": {"ms_per_step": 364.76, "whole": {"steps": 1377, "compile_s": 11.03}}}


@pytest.mark.parametrize("revision, steps, target, said", [
    ("abc1234", 300, None, "over this session's 300 steps: its training step's interval projected to a fine-tune "
                           "of 300 steps with its compiles (51 s against the course's 11 s): up to 1.178x"),
    ("abc1234", 1377, 0.907, "its whole fine-tune of 1377 steps, compiles included's interval, 0.907x"),
    ("abc1234", 5000, 0.852, "over this session's 5000 steps: target: the upper end of its training step's "
                             "interval projected to a fine-tune of 5000 steps"),
    ("abc1234-dirty", 300, None, "uncommitted changes"),  # no claim at any length: nothing to project
])
def test_the_session_projects_the_stored_claim_to_its_tiers_fine_tune(tmp_path, revision, steps, target, said):
    """The session reads the course's figures from the stored candidates and judges the claim at its own length
    (bench.judge.ranking.claim_at): the CI tier's 300 steps leave xla-buckets no claim (so that tier does not
    fine-tune it for one), the full tier's 1377 keep its 0.907."""
    _store(tmp_path, {"by_engine": {"tf-keras": XLA_ROW}, "baseline": "course", "revision": revision,
                      "candidates": COURSE})
    choice = _session(tmp_path, steps)
    assert choice.variant == "xla-buckets" and choice.target == target and said in choice.evidence, choice.evidence
    assert tuned_choice.best_choice("cpu", "minilm-l6", directory=tmp_path).target == (  # no length: its own
        None if revision.endswith("-dirty") else 0.907)


@pytest.mark.parametrize("task, tier, epochs, steps", [
    ("mrpc", "ci", 1, 300), ("mrpc", "full", 3, 1377), ("rte", "full", 3, 936), ("mrpc", "ci", 2, 600)])
def test_a_sessions_fine_tune_steps_are_its_epochs_over_its_rows(task, tier, epochs, steps):
    from bench.session.tiers import TIERS, Options

    options = Options("tiny", "test", task, TIERS[tier], "test", epochs, None, (0,), None, False, 0.0)
    assert options.fine_tune_steps == steps


def test_an_old_stored_choice_without_an_interval_is_read_and_reports_only(tmp_path):
    _store(tmp_path, {"by_engine": {"tf-keras": {"variant": "bucket", "quality": "not needed"}}, "revision": "f00"})
    choice = tuned_choice.best_choice("cpu", "minilm-l6", directory=tmp_path)
    assert choice.variant == "bucket" and choice.target is None
    assert "no interval stored" in choice.evidence and "stored without an interval" in choice.evidence


def _repo(path: Path, dirty: bool) -> Path:
    """A git checkout with one commit, and a tracked file changed after it where `dirty`."""
    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t"]
    (path / "a.txt").write_text("a\n")
    for command in (["init", "-q"], ["add", "a.txt"], ["commit", "-q", "-m", "a"]):
        subprocess.run(git + command, check=True, capture_output=True)
    if dirty:
        (path / "a.txt").write_text("changed\n")
    return path


def test_store_from_a_dirty_tree_is_refused_in_one_line_unless_forced(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(storing, "REPO", _repo(tmp_path / "dirty", dirty=True))
    assert tune.main(["--store", "--candidates", "multiple8"]) == 2  # refused before anything is timed
    assert capsys.readouterr().err.strip().splitlines() == [
        "bench.tune: error: --store from a working tree with uncommitted changes (a.txt): commit them, or pass "
        "--force-dirty to store the choice marked as from a dirty tree (it then carries no speed claim)"]
    assert storing.store_refusal(tune.parse_args(["--store", "--force-dirty"])) is None
    assert storing.store_refusal(tune.parse_args([])) is None  # nothing stored: nothing to refuse
    monkeypatch.setattr(storing, "REPO", tmp_path)  # not a checkout: its revision is unknown
    assert "git cannot tell which revision" in storing.store_refusal(tune.parse_args(["--store"]))
    monkeypatch.setattr(storing, "REPO", _repo(tmp_path / "clean", dirty=False))
    assert storing.store_refusal(tune.parse_args(["--store"])) is None


@pytest.mark.parametrize("dirty", [False, True])
def test_a_stored_choice_names_its_tree_and_claims_only_from_a_clean_one(tmp_path, monkeypatch, dirty):
    """tune.run with its timing replaced by fixed per-replicate times (multiple8 about 0.6x the course): --store
    writes a choice that --perf best reads; from a clean tree with its interval's upper end as the target, from a
    dirty one (--force-dirty) marked dirty and with no target."""
    monkeypatch.setattr(storing, "REPO", _repo(tmp_path / "repo", dirty=dirty))
    measured = {"course": [100.0, 104.0, 98.0], "multiple8": [60.0, 63.0, 58.5]}

    def replicate(found, args, r, times, skipped, firsts=None):
        for text in found:
            times.setdefault(text, [[] for _ in range(args.replicates)])[r].append(measured[text][r])

    monkeypatch.setattr(tune, "replicate", replicate)
    monkeypatch.setattr(tune.runtime, "device_kind", lambda device, host=None: "cpu")
    args = tune.parse_args(["--candidates", "course,multiple8", "--store", "--baselines", str(tmp_path),
                            "--no-quality", *(["--force-dirty"] if dirty else [])])
    assert tune.run(args) == 0
    entry = json.loads(tuned_choice.baseline_path(tmp_path, "minilm-l6", Host.here().key("cpu")).read_text())
    entry = entry["tuned"]["mrpc/cpu/batch=8"]
    assert entry["dirty"] is dirty and entry["revision"].endswith("-dirty") is dirty
    row = entry["by_engine"]["tf-keras"]
    choice = tuned_choice.best_choice("cpu", "minilm-l6", directory=tmp_path)
    assert choice.variant == "multiple8" and row["high"] < 1.0
    assert choice.target == (None if dirty else round(row["high"], 3)), choice.evidence


def _checked(monkeypatch, scores, collapsed=None):
    """bench.tune's quality check of a candidate whose fine-tune (replaced) scored `scores` on MRPC's 408 pairs,
    against a band of the fix that holds accuracy 0.6838, the score of predicting "paraphrase" always."""
    wide = {"accuracy": Figure.of([0.66, 0.70, 0.72, 0.68, 0.69]).to_dict(), "collapsed": [None] * 5}
    run = {"scores": scores, "num_eval_examples": 408, "collapsed": collapsed, "majority_accuracy": 0.6838,
           "ms_per_step": 1.0, "fit_s": 1.0, "compile_s": 0.0}
    monkeypatch.setattr(quality, "quality_band", lambda args, fingerprint: (wide, "fix.json"))
    monkeypatch.setattr(quality, "fine_tune", lambda c, args: run)
    monkeypatch.setattr(quality, "collapse_scores", lambda args: {"accuracy": {0: 0.3162, 1: 0.6838}})
    return quality.checked(candidates.parse("xla-buckets", "tf-keras"), SimpleNamespace(task="mrpc"), "here")


def test_tunes_quality_check_never_accepts_a_collapse_nor_a_band_that_holds_one(monkeypatch):
    collapsed = _checked(monkeypatch, {"accuracy": 0.6838}, collapsed="all-positive")
    assert collapsed["passed"] is False and collapsed["why"].startswith("COLLAPSED to all-positive")
    learned = _checked(monkeypatch, {"accuracy": 0.7010})  # inside, but the band cannot tell it from a collapse
    assert learned["passed"] is False and "holds the collapse score 0.6838, no gate" in learned["why"]
    monkeypatch.setattr(quality, "collapse_scores", lambda args: {})  # a band that holds none: inside passes
    wide = {"accuracy": Figure.of([0.66, 0.70, 0.72, 0.68, 0.69]).to_dict(), "collapsed": [None] * 5}
    monkeypatch.setattr(quality, "quality_band", lambda args, fingerprint: (wide, "fix.json"))
    assert quality.checked(candidates.parse("xla-buckets", "tf-keras"), SimpleNamespace(task="mrpc"), "here")["passed"]


def test_tunes_collapse_scores_are_the_validation_splits(real_glue_dir):
    found = quality.collapse_scores(SimpleNamespace(task="mrpc", glue_dir=real_glue_dir))
    assert found["accuracy"] == pytest.approx({0: 129 / 408, 1: 279 / 408}) and found["f1"][0] == 0.0


def test_the_fix_band_never_counts_a_collapsed_run_inside():
    """The collapse rule lives in bench.judge.verdicts.judge: a collapse (here STS-B's constant prediction, which has no
    constant score for the band's "holds a collapse" rule) that lands inside the band fails, and the session passes
    every fine-tune's collapse to it (Suite.compare_scores: the fix band of a variant or of several workers too)."""
    from bench.session.suite import Suite

    figure = Figure.of([0.0, 0.05, -0.05, 0.02, -0.02])
    inside = verdicts.judge(0.0, figure, limits=(-1.0, 1.0))
    assert inside.passed is True
    constant = verdicts.judge(0.0, figure, limits=(-1.0, 1.0), collapsed="constant")
    assert constant.passed is False and constant.why == "collapsed"
    assert "COLLAPSED to constant: never inside the band" in constant.message("pearson", 0.0, "here")
    asked = []
    fake = SimpleNamespace(collapse_scores=lambda: {},
                           compare=lambda *args, **kwargs: asked.append(kwargs) or (None, "no baseline"))
    result = SimpleNamespace(num_eval_examples=1500, scores={"pearson": 0.0}, collapsed="constant")
    Suite.compare_scores(fake, "id", result, "key")
    assert asked[0]["collapsed"] == "constant"


def test_the_reports_band_cell_never_puts_a_collapsed_run_in():
    document = {"figures": {"key": {"accuracy": Figure.of([0.66, 0.70, 0.72, 0.68, 0.69]).to_dict(),
                                    "collapsed": [None] * 5}}}
    assert tables.band_text(document, "key", "accuracy", 0.6838, 1 / 408).endswith(" in")
    cell = tables.band_text(document, "key", "accuracy", 0.6838, 1 / 408, collapsed="all-positive")
    assert cell == "[0.5748, 0.8052] n=5 **OUT** (collapsed)"


def test_a_stored_choice_of_another_engine_keeps_its_claim_where_a_rule_of_tf_keras_would_not(monkeypatch):
    """The suite drops BEST_BY_HOST's targets on engines without speed targets (measured on tf-keras), but a choice
    stored for that engine was measured on it: its claim stands."""
    from types import SimpleNamespace

    from bench.session.suite import Suite

    stored_row = perf.BestChoice("cpu", f"{tuned_choice.MEASURED_HERE}cpu-x-2c-000000), keras3-jax, measured",
                                 lambda _: True, "xla-buckets", 0.8, "measured")
    rule = perf.BestChoice("cpu", "CPUs with native bfloat16", lambda _: True, "bf16-bucket", 0.85, "Xeon")
    fake = SimpleNamespace(perf_kind=lambda: "cpu", options=SimpleNamespace(model="minilm-l6", task="mrpc",
                                                                             engine_name="keras3-jax",
                                                                             fine_tune_steps=300),
                           engine=SimpleNamespace(label="keras3-jax", speed_targets=False), host=None,
                           baseline_dir=None)
    fake.claim_at_this_length = lambda row: Suite.claim_at_this_length(fake, row)  # nothing stored to project here
    for row, target in ((stored_row, 0.8), (rule, None)):
        monkeypatch.setattr(tuned_choice, "best_choice", lambda *a, row=row, **k: row)
        assert Suite.best_choice(fake).target == target
    assert tuned_choice.measured_here(stored_row) and not tuned_choice.measured_here(rule)


def _side(monkeypatch, tmp_path, labels, caches=True):
    """bench.tune's side by side with fine-tunes that only report: each call of the choice takes the next label."""
    calls = []

    def fine_tune(c, args):
        calls.append((c.text, quality.cache_of(c, args)))
        if c.text == "course":
            return {"fit_s": 100.0, "compile_cache": "off"}
        label = labels[sum(1 for text, _ in calls if text == c.text) - 1]
        return {"fit_s": 80.0 if label.startswith("cold") else 60.0, "compile_cache": label}

    monkeypatch.setattr(tune, "fine_tune", fine_tune)
    found = {"course": candidates.parse("course", "tf-keras"), "xla-buckets": candidates.parse("xla-buckets", "tf-keras")}
    args = SimpleNamespace(compile_caches=str(tmp_path) if caches else None)
    return tune.side_by_side(found, "course", "xla-buckets", {}, args), calls


def test_the_side_by_side_gives_a_compiling_choice_cold_and_then_warm_from_its_own_cache(monkeypatch, tmp_path):
    side, calls = _side(monkeypatch, tmp_path, ["cold (0 held, 5 stored)", "warm (5 held, 0 stored)"])
    assert side["ratio"] == 0.8 and side["ratio_warm"] == 0.6
    assert side["choice"]["compile_cache"].startswith("cold") and side["choice_warm"]["compile_cache"].startswith("warm")
    (cold, warm) = [cache for text, cache in calls if text == "xla-buckets"]
    assert cold == warm == tmp_path / "xla-buckets"  # the candidate's own folder, both times
    # a choice that compiles nothing has no warm run to give, and a tune without caches gives none
    side, calls = _side(monkeypatch, tmp_path, ["unused: no XLA compile (0 held, 0 stored)"])
    assert "choice_warm" not in side and len(calls) == 2
    side, calls = _side(monkeypatch, tmp_path, ["cold (0 held, 5 stored)"], caches=False)
    assert "choice_warm" not in side and calls[1][1] is None
