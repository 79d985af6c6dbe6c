"""Quality bands lent across hosts of the same numerics (bench/store/lending.py), as the session uses them (bench/session/comparisons.py),
and the gate summary that says which gates were live (bench/session/summary.py)."""

from __future__ import annotations

from pathlib import Path


from bench.store import lending
from bench.session import summary
from bench.store import baselines
from bench.session.comparisons import StoredFigures

ROOT = Path(__file__).resolve().parent.parent
FIX = "quality/mrpc/from_logits/linear-decay/epochs=1/train=2400/batch=8"
VERSIONS = {"python": "3.11.7", "tensorflow": "2.20.0", "tf_keras": "2.20.1", "transformers": "4.54.1",
            "numpy": "2.4.6", "pytest-benchmark": "5.3.1"}
NEW_HOST = "cpu-amd-epyc-avx512bf16-2c-000000"


def group(accuracy: list, f1: list | None = None, versions: dict = VERSIONS, collapsed=None) -> dict:
    found = {"accuracy": baselines.Figure.of(accuracy).to_dict(), "collapsed": collapsed or [None] * len(accuracy),
             "provenance": {"versions": versions, "seeds": list(range(len(accuracy)))}}
    if f1 is not None:
        found["f1"] = baselines.Figure.of(f1).to_dict()
    return found


def write(directory: Path, fingerprint: str, groups: dict, model: str = "minilm-l6") -> None:
    baselines.write_atomic(baselines.path_for(directory, model, fingerprint),
                       {"model": model, "hardware_key": fingerprint, "figures": groups})


def test_the_committed_ci_bands_agree_across_hosts_and_are_lent_to_a_new_one():
    """Measured, not assumed: the two AMX Xeons' stored seeds of the CI tier's fix agree (the same values seed by
    seed), and a host of the same numerics with no band gets one of theirs, named."""
    found = lending.holders(baselines.BASELINE_DIR, "minilm-l6", FIX)
    assert len(found) >= 2, [h.fingerprint for h in found]
    agreeing, differing = lending.agreement(found)
    assert len(agreeing) == len(found) and not differing, differing
    versions = found[0].group["provenance"]["versions"]
    lent, why = lending.lender(baselines.BASELINE_DIR, "minilm-l6", FIX, NEW_HOST, versions)
    assert lent is not None and lent.fingerprint in {h.fingerprint for h in found}, why
    assert "same model, recipe, engine, device type (cpu) and library versions" in lent.where()
    assert "agreed by" in lent.why


def test_a_host_whose_scores_leave_the_others_band_is_named_and_lends_to_no_one(tmp_path):
    write(tmp_path, "cpu-a-2c-aaaaaa", {FIX: group([0.71, 0.72, 0.72, 0.71, 0.71])})
    write(tmp_path, "cpu-b-2c-bbbbbb", {FIX: group([0.71, 0.72, 0.72])})
    write(tmp_path, "cpu-c-2c-cccccc", {FIX: group([0.64, 0.65, 0.64])})  # other numerics, e.g. another ISA's kernels
    agreeing, differing = lending.agreement(lending.holders(tmp_path, "minilm-l6", FIX))
    assert [h.fingerprint for h in agreeing] == ["cpu-a-2c-aaaaaa", "cpu-b-2c-bbbbbb"]
    assert [h.fingerprint for h, _ in differing] == ["cpu-c-2c-cccccc"] and "outside" in differing[0][1]
    lent, _ = lending.lender(tmp_path, "minilm-l6", FIX, NEW_HOST, VERSIONS)
    assert lent.fingerprint == "cpu-a-2c-aaaaaa" and "cpu-c-2c-cccccc differs and keeps its own" in lent.why
    lent_to_c, _ = lending.lender(tmp_path, "minilm-l6", FIX, "cpu-c-2c-cccccc", VERSIONS)
    assert lent_to_c.fingerprint == "cpu-a-2c-aaaaaa"  # c has a band of its own: the session never asks (below)
    assert lending.main(["--baselines", str(tmp_path)]) == 1  # the listing flags the disagreement


def test_no_band_is_lent_across_versions_device_types_or_from_groups_that_cannot_gate(tmp_path):
    write(tmp_path, "cpu-a-2c-aaaaaa", {FIX: group([0.71, 0.72, 0.72], versions={**VERSIONS, "tensorflow": "2.21.0"})})
    write(tmp_path, "gpu-h100-x1-dddddd", {FIX: group([0.71, 0.72, 0.72])})
    write(tmp_path, "cpu-e-2c-eeeeee", {FIX: group([0.70])})  # one seed: no band
    lent, why = lending.lender(tmp_path, "minilm-l6", FIX, NEW_HOST, VERSIONS)
    assert lent is None and "no host of the same numerics has a band" in why
    (tmp_path / "minilm-l6__cpu-e-2c-eeeeee.json").unlink()
    lent, why = lending.lender(tmp_path, "minilm-l6", FIX, NEW_HOST, VERSIONS)
    assert lent is None and "tensorflow 2.21.0 here 2.20.0" in why  # the GPU's band is never lent to a CPU
    # a version that cannot change a score does not stop the loan
    write(tmp_path, "cpu-f-2c-ffffff", {FIX: group([0.71, 0.72, 0.72], versions={**VERSIONS, "pytest-benchmark": "9"})})
    assert lending.lender(tmp_path, "minilm-l6", FIX, NEW_HOST, VERSIONS)[0].fingerprint == "cpu-f-2c-ffffff"
    write(tmp_path, "cpu-g-2c-999999", {FIX: group([0.68, 0.68, 0.68], collapsed=["all-positive"] * 3)})
    assert lending.lender(tmp_path, "minilm-l6", FIX, "cpu-h-2c-888888", VERSIONS)[0].fingerprint != "cpu-g-2c-999999"


class Judged(StoredFigures):
    """The session's judgements (bench/session/comparisons.py) without a pytest session: a baseline folder and this host."""

    def __init__(self, directory: Path, fingerprint: str):
        from types import SimpleNamespace

        self.options = SimpleNamespace(update=False, model="minilm-l6", history=None, tier=SimpleNamespace(name="ci"))
        self.baseline_dir, self.hardware_key = directory, fingerprint
        self.baseline = baselines.load(baselines.path_for(directory, "minilm-l6", fingerprint))
        self.other_baselines = baselines.others(directory, "minilm-l6", fingerprint)
        self.engine = SimpleNamespace(versions=lambda: dict(VERSIONS), flags=lambda: [])
        self.verdicts, self.figures_judged, self._lent = [], [], {}

    def missing_baseline(self, name: str, key: str) -> str:
        return f"no baseline for {name} ({key}): {(self._lent.get(key) or (None, ''))[1]}"


def test_the_session_gates_a_new_host_with_a_lent_band_naming_it_and_fails_outside_it(tmp_path):
    write(tmp_path, "cpu-a-2c-aaaaaa", {FIX: group([0.71, 0.72, 0.72, 0.71, 0.71])})
    session = Judged(tmp_path, NEW_HOST)
    passed, message = session.compare("t::q", "accuracy", 0.715, FIX, resolution=1 / 408)
    assert passed is True and "the band of cpu-a-2c-aaaaaa, lent" in message
    passed, message = session.compare("t::q", "accuracy", 0.60, FIX, resolution=1 / 408)
    assert passed is False and "OUTSIDE" in message and "cpu-a-2c-aaaaaa" in message
    assert session.figures_judged[-1] == ("t::q", "accuracy", False, "cpu-a-2c-aaaaaa")


def test_a_host_with_a_band_of_its_own_is_judged_by_it_not_by_a_lent_one(tmp_path):
    write(tmp_path, "cpu-a-2c-aaaaaa", {FIX: group([0.71, 0.72, 0.72, 0.71, 0.71])})
    write(tmp_path, NEW_HOST, {FIX: group([0.64, 0.65, 0.64])})  # its own numerics, measured
    session = Judged(tmp_path, NEW_HOST)
    passed, message = session.compare("t::q", "accuracy", 0.645, FIX, resolution=1 / 408)
    assert passed is True and "lent" not in message and NEW_HOST in message
    assert session.figures_judged[-1][3] == ""


def test_the_gate_summary_says_live_or_skipped_and_the_required_gates_that_were_not_live():
    outcomes = [
        summary.Outcome("bench/test_quality.py::test_quality[seed0-from_logits-linear-decay]", "passed",
                             figures=(("accuracy", True, "cpu-a-2c-aaaaaa"), ("f1", None, ""))),
        summary.Outcome("bench/test_quality.py::test_course_claims[seed0]", "skipped",
                             "claims not shown: the tiny model was not measured"),
        summary.Outcome("bench/test_step_time.py::test_step_time[seed0-batch8-cpu]", "failed",
                             figures=(("step_time_ms", False, ""),)),
        summary.Outcome("bench/test_performance.py::test_variant_step_time[seed0-course]", "passed"),
        summary.contract_outcome(5, 0),
    ]
    text = summary.lines(outcomes)
    assert text == [
        "gate quality band [seed0-from_logits-linear-decay]: live, passed (accuracy passed against the band lent by "
        "cpu-a-2c-aaaaaa; f1 skipped)",
        "gate the course's claims [seed0]: skipped: claims not shown: the tiny model was not measured",
        "gate step time (block gate) [seed0-batch8-cpu]: live, FAILED (step_time_ms FAILED)",
        "gate JSON contract of every record: live, passed (5 record(s) read back whole)",
    ]  # a variant's step time is measured, not judged: no gate line
    missing = summary.not_live(("claims", "best-learns", "contract"), outcomes)
    assert missing == [
        "finetune: --require-live claims: the course's claims was not live: claims not shown: the tiny model was "
        "not measured",
        "finetune: --require-live best-learns: the best variant learns was not live: no test of it ran in this session"]
    assert summary.contract_outcome(0, 0).outcome == "skipped"
    assert summary.contract_outcome(3, 1).outcome == "failed"
    learned = summary.Outcome("bench/test_performance.py::test_faster_than_the_course[seed0]", "failed")
    assert summary.not_live(("best-learns",), [learned]) == []  # a failure is live: the run fails by itself
    no_claim = summary.Outcome("bench/test_performance.py::test_faster_than_the_course[seed0]", "skipped",
                                    "no speed claim for this CPU", (("learned", True, ""),))
    assert summary.not_live(("best-learns",), [no_claim]) == []  # it learned, then skipped the speed half
    assert summary.line(no_claim) == ("gate best variant learns, and its speed claim [seed0]: live, passed "
                                           "(learned passed); the rest skipped: no speed claim for this CPU")
    claimed = summary.Outcome("bench/test_performance.py::test_faster_than_the_course[seed0]", "passed", "",
                              (("learned", True, ""), ("speed claim 0.627x <= 0.706x", True, "")))
    assert summary.line(claimed) == ("gate best variant learns, and its speed claim [seed0]: live, passed (learned "
                                     "passed; speed claim 0.627x <= 0.706x passed)")  # both halves named
    unlearned = summary.Outcome("bench/test_performance.py::test_faster_than_the_course[seed0]", "skipped",
                                     "tier ci fine-tunes the best variant only where it carries a speed claim")
    assert "the best variant learns was not live: tier ci" in summary.not_live(("best-learns",), [unlearned])[0]
    from finetune.options import REQUIRABLE_GATES

    assert tuple(summary.REQUIRABLE) == REQUIRABLE_GATES  # the flag's choices are the gates it can require


def test_a_skip_reason_is_one_short_clause_per_distinct_reason():
    """The verdicts' own texts, as a CI-tier session on a host without a baseline file wrote them (2026-12-07)."""
    step = ("no baseline for step_time_ms (step_time/mrpc/cpu/batch=8/blocks=3x5x16) on this machine "
            "(cpu-amd-epyc-avx512bf16-2c-2c9d86: AMD EPYC (AuthenticAMD 25/17/1; avx512bf16; 2 usable cores)); step "
            "times of other machines are never a gate: cpu-amd-epyc-2c (AMD EPYC, 2 cores, recorded before "
            "fingerprints); cpu-amd-epyc-avx2-2c-682825 (AMD EPYC (AuthenticAMD 25/1/1; avx2; 2 usable cores)). "
            "Create one here with: python3 dev.py bench --tier ci --update-baselines --seeds 5; or keep this "
            "runner's nights with --history DIR: its step time is gated from the 3rd")
    assert summary.brief(step) == ("no baseline for step_time_ms on this machine; step times of other machines "
                                        "are never a gate")
    collapse = ("baseline band for f1 (minilm-l6 on cpu-x, quality/k; the band of cpu-y, lent: same model, recipe; "
                "agreed by cpu-z; baseline mean 0.8184, std 0.00294, n=5) is [0.8012, 0.8357], which holds 0.8122, "
                "the score of predicting label 1 for every example: no gate against a collapse. Narrow it with more "
                "seeds (python3 dev.py bench); the claims test checks that the fix learns")
    assert summary.brief(collapse) == ("baseline band for f1 is [0.8012, 0.8357], which holds 0.8122, the score "
                                            "of predicting label 1 for every example: no gate against a collapse")
    twice = "no baseline for accuracy (k) on this machine (cpu-x); no baseline for accuracy (k) on this machine (y)"
    assert summary.brief(twice) == "no baseline for accuracy on this machine"
    assert len(summary.brief("x" * 1000)) == 240


def test_one_gates_parametrizations_skipped_for_one_reason_share_a_line():
    why = "tier ci: a fine-tune per variant runs in the full tier only; this tier checks the best variant (bf16-bucket) only"
    outcomes = [summary.Outcome(f"bench/test_performance.py::test_variant_quality[seed0-{v}]", "skipped", why)
                for v in ("bucket", "xla")]
    outcomes.insert(1, summary.Outcome("bench/test_performance.py::test_variant_quality[seed0-bf16-bucket]",
                                            "passed", figures=(("accuracy", True, "cpu-a"),)))
    assert summary.lines(outcomes) == [
        "gate variant learns, in the fix's band [seed0-bucket, seed0-xla]: skipped: tier ci: a fine-tune per "
        "variant runs in the full tier only; this tier checks the best variant only",
        "gate variant learns, in the fix's band [seed0-bf16-bucket]: live, passed (accuracy passed against the band "
        "lent by cpu-a)"]


def test_the_reports_quality_cell_uses_the_band_the_gate_used_and_names_its_lender(tmp_path):
    from bench.report import tables
    from bench.report.runs import Run

    write(tmp_path, "cpu-a-2c-aaaaaa", {FIX: group([0.71, 0.72, 0.72, 0.71, 0.71])})
    run = Run("ci.json", "2026-12-07", "abc", dict(VERSIONS), None, NEW_HOST, [])
    document, lent = tables.quality_baseline(tmp_path, "minilm-l6", FIX, run)
    assert lent == " (lent by cpu-a-2c-aaaaaa)" and FIX in document["figures"]
    assert tables.band_text(document, FIX, "accuracy", 0.715, 1 / 408).endswith(" in")
    other = Run("ci.json", "2026-12-07", "abc", {**VERSIONS, "tensorflow": "2.21.0"}, None, NEW_HOST, [])
    assert tables.quality_baseline(tmp_path, "minilm-l6", FIX, other) == (None, "")  # other numerics
