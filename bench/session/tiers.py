"""The benchmark session's options and tiers: what `pytest bench/` was asked to run, validated once.

The options themselves are declared with the CLI's in finetune/options.py (one table for both).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from bench.judge.claims import CLEAR_PAIRS
from finetune.errors import FinetuneError
from finetune.recipes import LOSSES, OPTIMIZERS

WINNER = ("from_logits", "linear-decay")  # the course's fix for both pitfalls
RECIPES = [(loss, optimizer) for loss in LOSSES for optimizer in OPTIMIZERS]
# The CI tier's recipes: the fix and each pitfall on its own. string + adam, both pitfalls at once, is left to the
# full tier: a fault that made either pitfall behave like the fix (the loss's flag or the optimizer's schedule
# dropped) already makes string + linear-decay or from_logits + adam learn like the fix, and the claim fail; only
# both faults at once would need the corner, and each alone fails first. One fine-tune fewer: about 130 s of CI on
# the AVX512_BF16 EPYC, 230 s on the AVX2 EPYC (.ci/run's durations), keeping it inside 40 minutes there.
PAIRED_PITFALLS = tuple(recipe for recipe in RECIPES if recipe != ("string", "adam"))


# The CI tier's training rows: the first rows of MRPC's 3,668 (docs/measurements.md, "CI tier quality"): one epoch of them keeps
# `.ci/run` inside 40 minutes on a 2-core host whose course step takes 0.7 s, and every variant still shows
# what it shows after a whole epoch.
CI_TRAIN_ROWS = 2400


@dataclass(frozen=True)
class CiClaims:
    """One (task, model, engine) whose CI tier was measured: the measurement, and whether it lets that tier show the
    course's claims there. `dropped`: why not (the measured seeds do not all hold them), or None: they are shown."""

    measured: str  # the runs the row rests on: seeds, scores in validation examples, the host, where they are stored
    dropped: str | None = None


# The CI tier shows the course's claims (bench.judge.claims) only where one epoch over the first CI_TRAIN_ROWS rows was
# measured to hold them, per task, model and engine (Options.engine_name): the fix must learn in so little training,
# and the margins are in whole validation examples. Elsewhere (another model, the tiny one, a Hub model, an engine
# not run here) a claim that fails may say only that the tier is too short (seen: every recipe of the tiny model
# collapsed on MRPC to 0.6838), so the tier declares, in the session's header and before the run, that it cannot
# show them there (a skip naming this table); --tier full checks them. A row is shown where every measured seed holds
# the claims; a measurement that they do adds one. Measured on the AMX Xeons (baselines/, docs/tasks.md,
# docs/engines.md); the majority class collapses to: MRPC 279 of 408 pairs (0.6838), SST-2 444 of 872, RTE 146 of 277.
CI_CLAIMS_MEASURED = {
    ("mrpc", "minilm-l6", "tf-keras"): CiClaims(
        "seeds 0-4 on 2 AMX Xeons: the fix learned, 0.7083-0.7206 (289-294 pairs), 10-15 ahead of the Adam runs' "
        "collapse where the claim asks 8; string + linear-decay collapsed or fell below the majority class in each"),
    ("sst2", "minilm-l6", "tf-keras"): CiClaims(
        "seeds 0-2: the fix learned, 0.8119-0.8200 (708-715 sentences); seed 0: string + linear-decay learned, "
        "0.7236 (77 behind, the claim asks 1), both Adam runs collapsed to 0.5092 (264 behind)"),
    ("rte", "minilm-l6", "tf-keras"): CiClaims(
        "seeds 0-2: the fix 0.5596, 0.5704, 0.5379 (155, 158, 149 pairs); seed 0: from_logits + adam collapsed to "
        "the majority class (146), string + linear-decay learned, 0.5523 (153)",
        dropped="its own seeds do not hold the claims: seed 2's fix is 3 pairs ahead of the collapsed Adam run where "
                "the claim asks 8, and behind the one string + linear-decay run (149 against 153); seed 0 holds with "
                "one pair to spare (9): one epoch over 2,400 rows barely moves minilm-l6 on RTE (epoch loss 0.692, "
                "ln 2 = 0.693)"),
    ("mrpc", "minilm-l6", "keras3-jax"): CiClaims(
        "seeds 0-2: the fix learned, 0.7059-0.7132 (288-291 pairs), 9-12 ahead of a collapse where the claim asks 8; "
        "seed 0's whole CI session held the claims (string + adam and from_logits + adam collapsed, string + "
        "linear-decay 0.3064, below the majority class)"),
    ("mrpc", "minilm-l6", "keras3-tensorflow"): CiClaims(
        "seeds 0-2: the fix learned, 0.7034-0.7132 (287-291 pairs)",
        dropped="the pitfalls were never run on this engine, and seed 0's fix is exactly 8 pairs ahead of a collapse, "
                "none to spare"),
    ("mrpc", "minilm-l6", "keras3-torch"): CiClaims(
        "seed 0 on the AVX2 EPYC: the fix learned, 0.7083",
        dropped="one seed of the fix and none of the pitfalls"),
}

# A large task's full tier trains on its first rows only (one SST-2 epoch is 8,419 steps at batch 8: more than an
# hour on 2 CPU cores): every task whose Hub training split is larger than this. The slice is in the baseline key
# (train=<rows>) and in every record (max_train_samples), so the report shows it.
LARGE_TASK_ROWS = 10_000


@dataclass(frozen=True)
class Tier:
    name: str
    epochs: int
    max_train_samples: int | None  # None: the whole training split
    step_batches: int  # prepared batches in one timed pass (a block) of a step-time benchmark
    step_passes: int  # timed passes of each process of the gated step time, after one untimed pass
    step_processes: int  # processes of the gated step time (bench.timing.processes), their passes interleaved
    variant_batches: int  # prepared batches in a pass of each performance variant (XLA compiles one per length)
    variant_passes: int  # timed passes of each performance variant
    batch_sizes: tuple  # step-time benchmarks; quality runs use the course's batch size, 8
    # How many validation examples from_logits + linear-decay must be ahead of a recipe that learned (one that
    # did not: bench.judge.claims.CLEAR_PAIRS). The course's claim is for its 3 epochs: 8. After 1 epoch string +
    # linear-decay can still learn (all 3,668 rows, seed 0: 0.7059 against 0.7206), so the CI tier asks that
    # the fix be strictly ahead: 1 (a fix that behaved like the string loss would tie, and fail).
    learner_pairs: int = CLEAR_PAIRS
    # The performance variants this tier times (test_variant_step_time), besides the host's best; None: every one.
    step_variants: tuple | None = None
    # False: the best variant's fine-tune (test_faster_than_the_course, test_variant_quality[best]) runs only where
    # it carries a speed claim (BEST_BY_HOST's or a stored choice's target). Every tier runs it: that the best
    # variant learns needs no baseline, and .ci/run requires it live (--require-live best-learns), 3.4 min on the
    # AVX2 EPYC where no claim is stored
    best_without_claim: bool = True
    # the batch sizes of test_variant_step_time (the course's 8 unless a tier asks for more: the GPU box's 8 and 32)
    variant_batch_sizes: tuple = (8,)
    # the recipes of test_quality and test_course_claims (the 2 x 2 grid unless a tier runs fewer: PAIRED_PITFALLS)
    recipes: tuple = tuple(RECIPES)

    def runs_recipe(self, recipe: tuple) -> str | None:
        """Why this tier does not fine-tune `recipe` (loss, optimizer), or None."""
        if recipe in self.recipes:
            return None
        return (f"{'+'.join(recipe)}: tier {self.name} runs the fix and each pitfall on its own "
                f"({', '.join('+'.join(r) for r in self.recipes if r != WINNER)}), keeping .ci/run inside 40 minutes "
                "on the slowest host: --tier full runs the whole 2 x 2 grid")

    def times_variant(self, name: str, best: str | None) -> str | None:
        """Why this tier does not time the performance variant `name` (`best`: this host's where it carries a speed
        claim, else None: a tuned or unmeasured choice is timed by the full tier and by bench.tune), or None."""
        if self.step_variants is None or name in self.step_variants or name == best:
            return None
        also = f" and this host's best ({best})" if best else " (and a host's best where it carries a speed claim)"
        return (f"{name}: tier {self.name} times the variants {', '.join(self.step_variants)}{also}, keeping "
                ".ci/run inside 40 minutes on the slowest host: --tier full times every variant")


# The CI tier's performance variants: the course, bucketing (the best on float32 CPUs) and bf16 with bucketing (the
# best on CPUs with native bf16), plus the host's best wherever it is another (a GPU's). Left to the full tier,
# measured on the AMX Xeon (.ci/run's durations, 2026-12-01): xla 114 s, xla-bucket8 115 s and bf16-xla-bucket8
# 163 s (an XLA compile per padded length; XLA's shapes and retraces are unit-tested, tests/test_perf.py),
# multiple8 45 s, fixed 32 s, bf16 33 s, mirrored 30 s (one replica on a CPU).
CI_VARIANTS = ("course", "bucket", "bf16-bucket")

# The GPU box's tier (bench/gpu/check.py run --budget-s; bench/gpu/budget.py): a few minutes of a scarce GPU, so only
# the step of one fixed shape (every batch padded to the data's longest pair: one XLA compile per row on JAX), in
# float32 and bf16 at batch 8 and 32. Its fine-tunes are the ci tier's (a random-weight model's quality tests skip).
QUICK_VARIANTS = ("fixed", "bf16-fixed")

TIERS = {
    "full": Tier("full", epochs=3, max_train_samples=None, step_batches=24, step_passes=4, step_processes=3,
                 variant_batches=24, variant_passes=3, batch_sizes=(8, 32)),
    "ci": Tier("ci", epochs=1, max_train_samples=CI_TRAIN_ROWS, step_batches=16, step_passes=5, step_processes=3,
               variant_batches=4, variant_passes=3, batch_sizes=(8,), learner_pairs=1, step_variants=CI_VARIANTS, recipes=PAIRED_PITFALLS),
    "quick": Tier("quick", epochs=1, max_train_samples=CI_TRAIN_ROWS, step_batches=8, step_passes=3, step_processes=1,
                  variant_batches=8, variant_passes=3, batch_sizes=(8, 32), learner_pairs=1,
                  step_variants=QUICK_VARIANTS, best_without_claim=False, variant_batch_sizes=(8, 32),
                  recipes=PAIRED_PITFALLS),
}
QUALITY_BATCH_SIZE = 8
# Performance variants (bench/test_performance.py). Their quality check is a fine-tune of the tier's length per
# variant, so only these tiers check every variant; the best one carries the claim and is checked in every tier.
PERF_QUALITY_TIERS = ("full",)
SCALING_ROUNDS = 2  # interleaved timed passes per configuration in test_mirrored_scaling (single, mirrored, ...)


def train_rows(task: str, tier: Tier) -> int | None:
    """The training rows of `tier` on `task`: the tier's, or a large task's slice (None: all)."""
    from finetune.tasks import TASKS

    if tier.max_train_samples is not None:
        return tier.max_train_samples
    return LARGE_TASK_ROWS if TASKS[task].hub_rows["train"] > LARGE_TASK_ROWS else None


def fine_tune_steps(task: str, tier: Tier, epochs: int | None = None) -> int:
    """The training steps of one of `tier`'s fine-tunes on `task` at the course's batch: its epochs (the tier's
    unless given) over its rows (the task's Hub count where the tier takes them all)."""
    from finetune.tasks import TASKS

    rows = TASKS[task].hub_rows["train"]
    epochs = tier.epochs if epochs is None else epochs
    return epochs * math.ceil(min(rows, train_rows(task, tier) or rows) / QUALITY_BATCH_SIZE)


def default_tier() -> tuple[Tier, str]:
    """The main job's tier when --tier is not given: the course's 3 epochs where TensorFlow sees a GPU; on CPUs the
    ci tier, which finishes in about half an hour on 2 cores (docs/running.md)."""
    from finetune import environment

    gpus = environment.gpu_names()
    if gpus:
        return TIERS["full"], f"default: full, the course's 3 epochs (TensorFlow sees GPU {gpus[0]})"
    return TIERS["ci"], ("default: ci (TensorFlow sees no GPU; the course's 3 epochs of every benchmark take hours "
                         "on a CPU: --tier full)")


# Where a session is kept beyond its own JSON, each gating this machine's later sessions: a planted slowdown (the
# test hook --plant-slowdown) must never reach them, so Options refuses the pair before anything runs (one line,
# exit 4), and every record carries the planted factor (bench.store.contract.Record.planted_slowdown) for the readers.
# (option field, flag, the environment variable that may set it, what the session would become)
PLANTED_REFUSED = (
    ("update", "--update-baselines", None, "this machine's baseline, against which its later sessions are gated"),
    ("history", "--history", "FINETUNE_HISTORY", "a night of this machine's history, never rewritten, against which "
                                                 "its later nights are gated and in whose series change points are found"),
)


@dataclass(frozen=True)
class Options:
    model: str
    model_choice: str  # why this model
    task: str  # a finetune.tasks.TASKS name
    tier: Tier
    tier_choice: str  # why this tier
    epochs: int
    glue_dir: str | None
    seeds: tuple
    device: str | None  # step-time benchmarks: only this device
    update: bool
    plant_slowdown: float
    engine: str = "tf-keras"  # finetune.config.ENGINES: one per session
    backend: str | None = None  # keras3's (Keras 3 fixes it at import: one per process)
    history: Path | None = None  # the nights' folder (bench/history/nights.py), or None
    baselines: Path | None = None  # the stored baselines' folder (None: the repository's baselines/)
    reference: str | None = None  # a git revision timed beside the gated step time (bench/timing/reference_revision.py), or None
    profile: bool = False  # --profile: each variant's step-time benchmark profiles one pass (finetune/profile.py)
    require_live: tuple = ()  # --require-live: gates (bench.session.summary.REQUIRABLE) whose skip fails the session

    def __post_init__(self):
        """A planted session that would be stored (PLANTED_REFUSED) cannot exist, nor a reference with no spread to
        judge it by: refused in one line."""
        refused = self.planted_refused() or self.reference_refused()
        if refused:
            raise FinetuneError(refused)

    def reference_refused(self) -> str | None:
        """Why --reference cannot be judged in this tier, or None: the ratio to the reference is a Welch t-test over
        each side's timing processes (bench.judge.blocks.ab_test), which needs two or more a side."""
        if self.reference is None or self.tier.step_processes >= 2:
            return None
        unset = ", or unset $FINETUNE_REFERENCE" if os.environ.get("FINETUNE_REFERENCE") else ""
        return (f"--reference {self.reference} with --tier {self.tier.name}: the reference is judged over each "
                f"side's timing processes, a spread needs two a side, and this tier times "
                f"{self.tier.step_processes}: use --tier ci or --tier full{unset}")

    def planted_refused(self) -> str | None:
        """Why --plant-slowdown cannot run with the options that store this session, or None."""
        if not self.plant_slowdown:
            return None
        for field, flag, variable, what in PLANTED_REFUSED:
            if getattr(self, field):
                unset = f" (unset ${variable})" if variable and os.environ.get(variable) else ""
                return (f"--plant-slowdown {self.plant_slowdown:g} with {flag}: a planted session would be kept as "
                        f"{what}; a test hook is no measurement: leave out {flag}{unset} to watch the gate fail, or "
                        f"--plant-slowdown to keep this session")
        return None

    @property
    def engine_name(self) -> str:
        """tf-keras, or keras3-<backend>: as records, baseline keys and the report name it."""
        from finetune import engines

        return engines.get(self.engine, self.backend).label

    @classmethod
    def from_pytest(cls, config) -> "Options":
        from finetune.models import default_model

        model, choice = config.getoption("--model"), "as requested (--model)"
        if model is None:
            model, choice = default_model()
        tier, tier_choice = default_tier() if config.getoption("--tier") is None else (
            TIERS[config.getoption("--tier")], "as requested (--tier)")  # validated where parsed (finetune/options.py)
        from finetune.config import RunConfig

        engine, backend = config.getoption("--engine"), config.getoption("--backend")
        RunConfig(engine=engine, backend=backend)  # a bad pair: FinetuneError's one line (bench/conftest.py)
        seeds = config.getoption("--seeds")
        epochs = tier.epochs if config.getoption("--epochs") is None else config.getoption("--epochs")
        return cls(model, choice, config.getoption("--task"), tier, tier_choice, epochs, config.getoption("--glue-dir"),
                   tuple(range(seeds)),
                   config.getoption("--device"), config.getoption("--update-baselines"),
                   config.getoption("--plant-slowdown"), engine, backend, config.getoption("--history"),
                   config.getoption("--baselines"), config.getoption("--reference"), config.getoption("--profile"),
                   tuple(config.getoption("--require-live")))

    @property
    def train_rows(self) -> int | None:
        """The training rows of this tier on this task: the tier's, or a large task's slice (None: all)."""
        return train_rows(self.task, self.tier)

    @property
    def fine_tune_steps(self) -> int:
        """The training steps of one of this session's fine-tunes (fine_tune_steps(): what a stored speed claim is
        projected to)."""
        return fine_tune_steps(self.task, self.tier, self.epochs)

    def claims_not_shown(self) -> str | None:
        """Why this session's tier cannot show the course's claims on its task, model and engine (declared in the
        header, before the run: CI_CLAIMS_MEASURED), or None."""
        if self.tier.max_train_samples is None:
            return None
        combo = (self.task, self.model, self.engine_name)
        where = (f"tier {self.tier.name} on {self.task} with {self.model} on {self.engine_name} ({self.epochs} "
                 f"epoch(s) over the first {self.tier.max_train_samples} rows)")
        row = CI_CLAIMS_MEASURED.get(combo)
        if row is None:
            shown = ", ".join("/".join(key) for key, claimed in CI_CLAIMS_MEASURED.items() if not claimed.dropped)
            return (f"{where}: not measured to hold them (bench/session/tiers.py CI_CLAIMS_MEASURED shows them on {shown}), "
                    "so this tier cannot show the course's claims here: --tier full checks them")
        if row.dropped:
            return (f"{where}: measured, and not shown: {row.dropped} (bench/session/tiers.py CI_CLAIMS_MEASURED): "
                    "--tier full checks them")
        return None

    def describe(self) -> str:
        train = "all" if self.train_rows is None else f"the first {self.train_rows}"
        data_from = f"GLUE TSV in {self.glue_dir}" if self.glue_dir else "the Hugging Face Hub"
        return (f"engine {self.engine_name}; task {self.task}; model {self.model} [{self.model_choice}]; tier {self.tier.name} [{self.tier_choice}]: "
                f"{self.epochs} epoch(s), "
                f"train rows {train}, step time at batch {self.tier.batch_sizes}: {self.tier.step_processes} "
                f"processes x {self.tier.step_passes} passes of {self.tier.step_batches} batches; seeds {list(self.seeds)}; "
                f"data from {data_from}"
                + ("; UPDATING BASELINES" if self.update else "")
                + (f"; PLANTED SLOWDOWN {self.plant_slowdown:.0%}" if self.plant_slowdown else "")
                + (f"; history {self.history}" if self.history else "")
                + (f"; step time beside reference {self.reference}" if self.reference else ""))
