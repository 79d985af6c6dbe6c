"""The session's plan and estimate (bench.session.plan) and its progress lines (bench.session.progress), without TensorFlow."""

import dataclasses
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from bench.session import plan
from bench.session import progress
from bench.session.tiers import RECIPES, TIERS, WINNER
from bench.session.suite import Suite


@dataclass
class FakeSuite:
    """What bench.session.plan asks of a Suite: the tier and the tests' own skip reasons."""
    tier: str = "ci"
    unsupported: set = field(default_factory=set)  # variants this host cannot run
    best_variant: str = "bf16-bucket"
    claim: float | None = 0.85  # the best variant's speed target on this host (None: no claim, as on AVX2)
    no_gpu: bool = True

    @property
    def options(self):
        return SimpleNamespace(tier=TIERS[self.tier], update=False)

    def best_choice(self):
        return SimpleNamespace(variant=self.best_variant, target=self.claim, needs="this CPU", evidence="measured")

    best_fine_tune_skip = Suite.best_fine_tune_skip  # the Suite's own rules, on this fake host

    def variant_skip(self, name):
        name = self.resolved_variant(name)
        return f"{name}: unsupported" if name in self.unsupported else None

    variant_step_skip = Suite.variant_step_skip  # the host's best is timed in the CI tier where it has a claim

    variant_quality_skip = Suite.variant_quality_skip

    def resolved_variant(self, name):
        return self.best_variant if name == "best" else name

    def variant_config(self, name):
        return SimpleNamespace(jit_compile="xla" in name)

    def runs_as(self, config):  # as tf-keras runs it (keras3 on JAX would compile every variant)
        return config

    def step_skip(self, device):
        return "no GPU" if device == "gpu" and self.no_gpu else None

    def scaling_replicas(self):
        return 1


def item(name, **params):
    ids = "-".join(str(v) for v in params.values())
    return SimpleNamespace(originalname=name, name=f"{name}[{ids}]", nodeid=f"bench/x.py::{name}[{ids}]",
                           callspec=SimpleNamespace(params=params))


COSTS = plan.Costs(step_s=0.5, train_steps=300, eval_batches=51, scale=1.0)


def session_items(seed=0):
    return ([item("test_step_time", device=d, batch_size=8, seed=seed) for d in ("cpu", "gpu")]
            + [item("test_variant_step_time", variant=v, seed=seed) for v in ("course", "bf16-bucket", "bucket")]
            + [item("test_faster_than_the_course", seed=seed)]
            + [item("test_variant_quality", variant=v, seed=seed) for v in ("bf16", "bf16-bucket")]
            + [item("test_quality", loss=l, optimizer=o, seed=seed) for l, o in RECIPES]
            + [item("test_course_claims", seed=seed)])


def test_a_fine_tune_shared_by_several_tests_is_planned_once():
    made = plan.plan(session_items(), FakeSuite(), COSTS)
    # the course's fix (faster_than), the best variant (faster_than), the CI tier's two pitfalls (test_quality):
    # string + adam is the full tier's only
    assert made.fine_tunes == 4
    assert made.fine_tune_names[("recipe", WINNER, 0)] == 1 and made.fine_tune_names[("variant", "bf16-bucket", 0)] == 2
    by_name = {w.nodeid.split("::")[1].split("[")[0]: w for w in made.works}
    assert by_name["test_course_claims"].fine_tunes == () and by_name["test_course_claims"].seconds == 0
    quality = [w for w in made.works if "test_quality" in w.nodeid]
    # string + adam skips in the CI tier; the fix's fine-tune was started by faster_than
    assert [len(w.fine_tunes) for w in quality] == [0, 1, 1, 0]
    assert [w.seconds for w in quality][0] == 0
    # the session's estimate: 4 fine-tunes, the CPU step-time session, three variants' passes; the GPU ones skip
    tier = TIERS["ci"]
    step_session = plan.PROCESS_S + tier.step_processes * (tier.step_passes + 1) * tier.step_batches * 0.5
    variants = 3 * plan.MODEL_S + (tier.variant_passes + 1) * tier.variant_batches * 0.5 * 3
    assert made.seconds == pytest.approx(4 * COSTS.fine_tune_s() + step_session + variants)
    assert "4 fine-tune(s)" in made.describe(len(made.works))
    full = plan.plan(session_items(), FakeSuite(tier="full"), COSTS)
    # the whole grid, and the full tier checks bf16 too: the fix, the best, bf16, the three other recipes
    assert full.fine_tunes == 6 and full.fine_tune_names[("recipe", ("string", "adam"), 0)] == 4


def test_skipped_work_is_left_out_of_the_plan():
    suite = FakeSuite(unsupported={"bf16", "bf16-bucket"})
    made = plan.plan(session_items(), suite, COSTS)
    assert ("variant", "bf16-bucket", 0) not in made.fine_tune_names and made.fine_tunes == 3
    bf16 = [w for w in made.works if w.nodeid.endswith("[bf16-0]")]
    assert bf16 and all(w.seconds == 0 for w in bf16)
    gpu = [w for w in made.works if "gpu" in w.nodeid]
    assert gpu[0].seconds == 0 and [w for w in made.works if "cpu" in w.nodeid][0].seconds > 0


def test_every_tier_fine_tunes_the_best_variant_with_or_without_a_speed_claim():
    """That the host's best variant learns needs no baseline, and .ci/run requires that gate live: the CI tier
    fine-tunes it on a host without a claim too (an AVX2 CPU); a tier that did not would say why."""
    made = plan.plan(session_items(), FakeSuite(claim=None), COSTS)
    assert made.fine_tune_names[("variant", "bf16-bucket", 0)] == 2 and made.fine_tunes == 4  # 3 recipes + best
    assert FakeSuite(claim=None).variant_quality_skip("bf16-bucket") is None
    thrifty = dataclasses.replace(TIERS["ci"], best_without_claim=False)
    suite = FakeSuite(claim=None)
    skip = Suite.best_fine_tune_skip(SimpleNamespace(options=SimpleNamespace(tier=thrifty),
                                                     best_choice=suite.best_choice))
    assert "only where it carries a speed claim" in skip and "--tier full" in skip


def test_every_seed_is_its_own_fine_tune():
    made = plan.plan(session_items(0) + session_items(1), FakeSuite(), COSTS)
    assert made.fine_tunes == 8 and made.fine_tune_names[("recipe", WINNER, 1)] == 5


def test_no_estimate_says_why():
    made = plan.plan(session_items(), FakeSuite(), None, "no fp32 calibration")
    assert made.seconds == 0 and "no estimate (no fp32 calibration)" in made.describe(14)


def test_the_step_cost_grows_with_the_flops_and_shrinks_with_the_host_rate():
    slow = plan.Costs.measured(gflops=100, step_flops=40e9, train_steps=300, eval_batches=51)
    fast = plan.Costs.measured(gflops=200, step_flops=40e9, train_steps=300, eval_batches=51)
    assert slow.step_s == pytest.approx(2 * fast.step_s)
    assert fast.step_s == pytest.approx(40e9 / (200e9 * plan.EFFICIENCY["cpu"]) + plan.STEP_OVERHEAD_S)
    assert slow.fine_tune_s() > slow.train_steps * slow.step_s


def test_minutes_read_as_a_person_would_say_them():
    assert [plan.minutes(s) for s in (-3, 42.4, 150, 1384, 7200)] == ["0 s", "42 s", "2 min 30 s", "23 min", "2.0 h"]


def test_padded_length_is_the_mean_longest_row_of_the_batches():
    assert plan.padded_length([12] * 40) == 12
    lengths = np.arange(1, 17)  # shuffled into 2 batches of 8: one of them holds 16
    assert 12 < plan.padded_length(lengths, batch_size=8, draws=50) < 16
    assert plan.padded_length([5, 9, 7]) == 9  # fewer rows than a batch


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_fine_tune(made, mode, steps=10, per_epoch=5, step_s=0.5):
    """Drive a Progress through one test whose fine-tune has `steps` steps, as Keras calls its callback."""
    clock, written = Clock(), []
    reporter = progress.Progress(made, mode, lambda text, in_place, final: written.append((text, in_place, final)),
                                 clock=clock)
    nodeid = made.works[0].nodeid
    reporter.start(nodeid)
    run = SimpleNamespace(began=clock.now, steps=0, epoch=0, per_epoch=per_epoch, epochs=steps // per_epoch)
    key = made.works[0].fine_tunes[0]
    for step in range(steps):
        clock.now += step_s
        run.steps, run.epoch = step + 1, step // per_epoch
        reporter.step(key, "fix", run, final=False)
        if (step + 1) % per_epoch == 0 and mode == "lines":
            reporter.step(key, "fix", run, final=False, force=True)
    reporter.step(key, "fix", run, final=True)
    reporter.finish(nodeid)
    return reporter, written


def one_fine_tune_plan(seconds=100.0):
    key = ("recipe", WINNER, 0)
    return plan.Plan([plan.Work("t::a", (key,), seconds), plan.Work("t::b", (), 50.0)], COSTS, "", {key: 1})


def test_live_progress_rewrites_one_line_at_most_once_a_second():
    _, written = run_fine_tune(one_fine_tune_plan(), "live", steps=10, step_s=0.5)
    live = [w for w in written if not w[2]]
    assert 4 <= len(live) <= 6 and all(in_place for _, in_place, _ in live)  # 5 s of steps, one rewrite a second
    assert live[0][0].startswith("fine-tune 1/1 fix: epoch 1/2, step 2/5")
    final = written[-1]
    assert final[2] and "trained, 10 steps in 5 s (500 ms/step)" in final[0]


def test_lines_progress_writes_a_line_per_epoch():
    _, written = run_fine_tune(one_fine_tune_plan(), "lines")
    assert [text.split(":")[1].strip().split(",")[0] for text, _, final in written if not final] == ["epoch 1/2",
                                                                                                      "epoch 2/2"]
    assert "step 5/5, 2 s left" in written[0][0] and all(not in_place for _, in_place, _ in written)


def test_off_writes_nothing_but_the_summary():
    reporter, written = run_fine_tune(one_fine_tune_plan(), "off")
    assert written == [] and "the session took 5 s; estimated before the first test: 2 min 30 s" in reporter.summary()


def test_time_left_is_rescaled_by_what_was_measured():
    """The first test was estimated at 100 s and took 5 s: the second's 50 s estimate becomes 2.5 s."""
    reporter, _ = run_fine_tune(one_fine_tune_plan(100.0), "off")
    assert reporter.scale() == pytest.approx(0.05)
    assert reporter.session_left_s() == pytest.approx(2.5)


def test_auto_is_live_on_a_terminal_and_off_elsewhere():
    assert progress.resolved("auto", isatty=True) == "live" and progress.resolved("auto", isatty=False) == "off"
    assert progress.resolved("lines", isatty=False) == "lines"


class FakeReporter:
    """pytest's TerminalReporter as far as bench.session.progress.Terminal uses it."""

    def __init__(self, verbosity=0):
        self.out, self.currentfspath = "bench/test_quality.py ..", "bench/test_quality.py"
        self.showlongtestinfo, self.showfspath = verbosity > 0, verbosity >= 0
        self._tw = SimpleNamespace(fullwidth=80, width_of_current_line=0)

    def ensure_newline(self):
        if self.currentfspath:
            self.out += "\n"
            self.currentfspath = None

    def write(self, text):
        self.out += text

    def rewrite(self, line, erase=False):
        self.out = self.out[:self.out.rfind("\n") + 1] + line

    def write_fspath_result(self, nodeid, res):
        self.out += "\n" + nodeid.split("::")[0] + " " + res
        self.currentfspath = nodeid.split("::")[0]

    def flush(self):
        pass


def terminal(reporter):
    made = progress.Terminal.__new__(progress.Terminal)
    made.reporter, made.capture, made.open, made.ended = reporter, None, False, True
    return made


def test_the_live_line_starts_below_pytest_and_gives_pytest_its_line_back():
    reporter = FakeReporter()
    write = terminal(reporter)
    write("fine-tune 1/2 a: step 1", True, False)
    write("fine-tune 1/2 a: step 2", True, False)
    write("fine-tune 1/2 a: trained", False, True)
    write("fine-tune 2/2 b: step 1", True, False)
    write.close("bench/test_quality.py::test_quality[x]")
    reporter.write(".")  # pytest's letter
    assert reporter.out.splitlines() == ["bench/test_quality.py ..", "fine-tune 1/2 a: trained",
                                         "fine-tune 2/2 b: step 1", "bench/test_quality.py ."]


def test_lines_mode_keeps_every_line():
    reporter = FakeReporter()
    write = terminal(reporter)
    write("epoch 1", False, False)
    write("epoch 2", False, False)
    write.close("bench/test_quality.py::test_quality[x]")
    assert reporter.out.splitlines() == ["bench/test_quality.py ..", "epoch 1", "epoch 2", "bench/test_quality.py "]


def test_only_the_live_line_is_cut_to_the_terminal_width():
    reporter = FakeReporter()
    write = terminal(reporter)
    write("x" * 200, False, False)  # lines mode: a log keeps every word
    write("y" * 200, True, False)
    assert reporter.out.splitlines()[1:] == ["x" * 200, "y" * 76 + "..."]


def test_a_long_test_without_a_fine_tune_says_how_long_it_takes():
    made = plan.Plan([plan.Work("t::test_step_time[cpu]", (), 240.0), plan.Work("t::short", (), 5.0)], COSTS)
    written = []
    reporter = progress.Progress(made, "lines", lambda *args: written.append(args), clock=Clock())
    reporter.start("t::test_step_time[cpu]")
    reporter.finish("t::test_step_time[cpu]")
    reporter.start("t::short")
    assert written == [("test_step_time[cpu]: about 4 min 00 s; session about 4 min 05 s left", False, True)]


def test_the_ci_tier_times_its_variants_and_the_hosts_best_and_plans_no_time_for_the_others():
    ci, full = TIERS["ci"], TIERS["full"]
    assert ci.times_variant("xla", best="bf16-bucket").startswith("xla: tier ci times the variants course, bucket")
    assert "xla-bucket8" not in TIERS["ci"].step_variants
    assert "--tier full" in ci.times_variant("fixed", best="bucket")
    assert ci.times_variant("bf16-xla-bucket8", best="bf16-xla-bucket8") is None  # a best with a speed claim
    assert "where it carries a speed claim" in ci.times_variant("xla-buckets", best=None)  # tuned, no claim
    assert FakeSuite(best_variant="xla-buckets", claim=None).variant_step_skip("xla-buckets").startswith(
        "xla-buckets: tier ci times")
    assert FakeSuite(best_variant="xla-buckets", claim=0.7).variant_step_skip("xla-buckets") is None
    assert all(full.times_variant(name, best="bucket") is None for name in ("xla", "fixed", "mirrored"))
    items = [item("test_variant_step_time", variant=v, seed=0) for v in ("course", "xla", "fixed")]
    seconds = {w.nodeid.split("[")[1]: w.seconds for w in plan.plan(items, FakeSuite(), COSTS).works}
    assert seconds["course-0]"] > 0 and seconds["xla-0]"] == seconds["fixed-0]"] == 0
    timed_full = {w.nodeid.split("[")[1]: w.seconds for w in plan.plan(items, FakeSuite(tier="full"), COSTS).works}
    assert timed_full["fixed-0]"] > 0 and timed_full["xla-0]"] > timed_full["course-0]"]  # XLA: a compile per shape


def test_the_quick_tier_times_the_fixed_shape_in_both_precisions_at_each_batch_size_and_plans_the_larger_batch():
    quick = TIERS["quick"]
    assert quick.times_variant("fixed", best=None) is None and quick.times_variant("bf16-fixed", best=None) is None
    assert quick.times_variant("course", best=None).startswith("course: tier quick times the variants fixed, bf16")
    assert quick.variant_batch_sizes == (8, 32) and quick.step_processes == 1
    items = [item("test_variant_step_time", variant=v, seed=0, variant_batch=b) for v in ("fixed", "course")
             for b in (8, 32)]
    seconds = {w.nodeid.split("[")[1]: w.seconds for w in plan.plan(items, FakeSuite(tier="quick"), COSTS).works}
    assert seconds["course-0-8]"] == seconds["course-0-32]"] == 0
    steps = (quick.variant_passes + 1) * quick.variant_batches
    assert seconds["fixed-0-8]"] == pytest.approx(plan.MODEL_S + steps * 0.5)
    assert seconds["fixed-0-32]"] == pytest.approx(plan.MODEL_S + 4 * steps * 0.5)  # 4x the rows a step
