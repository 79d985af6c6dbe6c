"""The session's plan: what `pytest bench/` will run, and about how long that takes on this machine.

Printed before the first test (bench/conftest.py) and the base of the progress lines' time left (bench/session/progress.py).
The estimate is built from what the session measured before collecting: its calibration (the host's fp32 matmul
rate, finetune.calibration) and the FLOPs of a training step at the task's padded length (finetune.flops), at the
efficiency the course's step reaches on CPUs measured here. Where a test will skip (the tests' own reasons,
bench.session.suite), it is left out. An estimate, not a gate: the progress lines rescale it by what was measured so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import math

import numpy as np

from bench.session import multi_worker
from bench.session.tiers import QUALITY_BATCH_SIZE, WINNER

# The cost model, fitted to sessions measured here (docs/running.md): a training step of the course's
# configuration at batch 8 takes its FLOPs at EFFICIENCY x the calibrated fp32 rate, plus STEP_OVERHEAD_S. On the AMX
# Xeon (196 GFLOP/s) that gives MRPC 423 ms (measured 426, fit() over whole epochs), RTE 751 (880), SST-2 234 (300:
# short rows are dominated by overhead); capped at AVX2 (115.5 GFLOP/s) MRPC 718 (658-692). The default session
# there was estimated at 31 min and took 28. GPU: not measured (no GPU has run this suite); small batches use a
# GPU's matmul peak poorly, so a low guess.
EFFICIENCY = {"cpu": 0.6, "gpu": 0.15}
# Seconds of work besides the FLOPs, on a host whose calibration is REFERENCE_GFLOPS (scaled by the host's own):
REFERENCE_GFLOPS = 200.0
STEP_OVERHEAD_S = 0.10  # each training step: op dispatch, the input pipeline, fit()'s callbacks
FINE_TUNE_S = 6.0  # a fine-tune besides its steps: load the weights, build the datasets (tracing is in its steps)
MODEL_S = 15.0  # a timed StepBench: build the model, prepare its batches, trace the train function
XLA_SHAPE_S = 10.0  # one XLA compile of the training step, per padded shape
PROCESS_S = 40.0  # start a timing process (bench.timing.processes): import TensorFlow, load the data, build the model


@dataclass(frozen=True)
class Costs:
    """This host's costs, in seconds, for the session's task and tier."""
    step_s: float  # one training step of the course's configuration at batch 8
    train_steps: int  # the training steps of one fine-tune
    eval_batches: int  # the validation batches it predicts
    scale: float  # REFERENCE_GFLOPS / this host's calibration: the overheads' factor

    @classmethod
    def measured(cls, gflops: float, step_flops: float, train_steps: int, eval_batches: int,
                 efficiency: float = EFFICIENCY["cpu"]) -> "Costs":
        scale = REFERENCE_GFLOPS / gflops
        return cls(step_flops / (gflops * 1e9 * efficiency) + STEP_OVERHEAD_S * scale, train_steps, eval_batches,
                   scale)

    def fine_tune_s(self) -> float:
        return FINE_TUNE_S * self.scale + self.train_steps * self.step_s + self.eval_batches * self.step_s / 3

    def passes_s(self, steps: int, xla_shapes: int = 0) -> float:
        """A StepBench of `steps` steps (warm-up included) in this process."""
        return MODEL_S * self.scale + XLA_SHAPE_S * self.scale * xla_shapes + steps * self.step_s


@dataclass(frozen=True)
class Work:
    """What one collected test will run, once the tests before it have run."""
    nodeid: str
    fine_tunes: tuple  # the fine-tunes this test starts (one shared by several tests is started by the first)
    seconds: float


@dataclass
class Plan:
    works: list
    costs: Costs | None
    why_none: str = ""  # why there is no estimate
    fine_tune_names: dict = field(default_factory=dict)  # fine-tune key -> its number, 1..N, in the order planned

    @property
    def fine_tunes(self) -> int:
        return len(self.fine_tune_names)

    @property
    def seconds(self) -> float:
        return sum(work.seconds for work in self.works)

    def describe(self, tests: int) -> str:
        timed = sum(1 for work in self.works if work.seconds)
        text = f"plan: {tests} tests, {self.fine_tunes} fine-tune(s), {timed} test(s) with timed work"
        if self.costs is None:
            return f"{text}; no estimate ({self.why_none})"
        return (f"{text}; about {minutes(self.seconds)} on this machine (estimated from the calibration: "
                f"{self.costs.step_s * 1e3:.0f} ms per training step, {self.costs.train_steps} steps per fine-tune)")


def minutes(seconds: float) -> str:
    seconds = round(max(0.0, seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def fine_tunes_of(name: str, params: dict, suite) -> list:
    """The fine-tunes the test `name` (with its parameters) needs: (kind, variant, seed) keys, as Suite caches them."""
    seed = params.get("seed", 0)
    recipes = suite.options.tier.recipes
    if name == "test_quality":
        recipe = (params["loss"], params["optimizer"])
        return [("recipe", recipe, seed)] if recipe in recipes else []
    if name == "test_course_claims":
        return [("recipe", recipe, seed) for recipe in recipes]
    if name == "test_faster_than_the_course":
        if suite.variant_skip("best") or suite.best_fine_tune_skip():
            return []
        return [("recipe", WINNER, seed), ("variant", suite.best_variant, seed)]
    if name == "test_variant_quality":
        variant = params["variant"]
        return [] if suite.variant_quality_skip(variant) else [("variant", suite.resolved_variant(variant), seed)]
    if name == "test_multi_worker_quality":
        return [] if multi_worker.skip(suite) else [("multi-worker", WINNER, seed)]
    return []


def timed_seconds(name: str, params: dict, suite, costs: Costs) -> float:
    """Seconds of the test's own timing (besides fine-tunes); 0 where it will skip."""
    tier = suite.options.tier
    if name == "test_step_time":
        if suite.step_skip(params["device"]):
            return 0.0
        ratio = params.get("batch_size", QUALITY_BATCH_SIZE) / QUALITY_BATCH_SIZE
        steps = tier.step_processes * (tier.step_passes + 1) * tier.step_batches
        sides = 2 if getattr(suite.options, "reference", None) else 1  # --reference: as many processes again
        return sides * (PROCESS_S * costs.scale + steps * costs.step_s * ratio)
    if name == "test_variant_step_time":
        variant = params["variant"]
        if suite.variant_step_skip(variant):
            return 0.0
        jit = suite.runs_as(suite.variant_config(variant)).jit_compile  # keras3 on JAX: XLA for every variant
        ratio = params.get("variant_batch", QUALITY_BATCH_SIZE) / QUALITY_BATCH_SIZE
        return costs.passes_s(round((tier.variant_passes + 1) * tier.variant_batches * ratio),
                              xla_shapes=tier.variant_batches if jit else 0)
    if name == "test_mirrored_scaling":
        replicas = suite.scaling_replicas()
        return 0.0 if replicas < 2 else 2 * costs.passes_s(2 * tier.variant_batches * replicas)
    if name == "test_multi_worker_step_time":  # the multi-worker passes and as many of one process
        return 0.0 if multi_worker.skip(suite) else 2 * costs.passes_s((tier.step_passes + 1) * tier.step_batches)
    return 0.0


def plan(items, suite, costs: Costs | None, why_none: str = "") -> Plan:
    """The Plan of the collected `items` (pytest items of bench/), in the order they will run."""
    seen: dict = {}
    works = []
    for item in items:
        name = getattr(item, "originalname", item.name)
        params = dict(getattr(getattr(item, "callspec", None), "params", {}))
        new = [key for key in fine_tunes_of(name, params, suite) if key not in seen]
        for key in new:
            seen[key] = len(seen) + 1
        seconds = 0.0
        if costs is not None:
            seconds = len(new) * costs.fine_tune_s() + timed_seconds(name, params, suite, costs)
        works.append(Work(item.nodeid, tuple(new), seconds))
    return Plan(works, costs, why_none, seen)


def padded_length(lengths, batch_size: int = QUALITY_BATCH_SIZE, draws: int = 5, seed: int = 0) -> float:
    """The mean padded length of shuffled batches of rows of these token lengths (the course pads each batch to its
    longest row)."""
    lengths = np.asarray(lengths)
    usable = len(lengths) - len(lengths) % batch_size
    if usable == 0:
        return float(lengths.max())
    rng = np.random.default_rng(seed)
    return float(np.mean([lengths[rng.permutation(len(lengths))[:usable]].reshape(-1, batch_size).max(axis=1).mean()
                          for _ in range(draws)]))


def costs_of(suite) -> tuple:
    """(Costs of this host for the session's task and tier, or None; why none): from the session's calibration and
    the FLOPs of the task's training step at its padded length."""
    from finetune import FinetuneError, flops, models, runtime

    prepared = suite.prepared()
    kind = runtime.device_kind("auto")
    gflops = suite.calibration.get("fp32_gflops")
    if not gflops:
        return None, "no fp32 calibration"
    try:
        arch = flops.Architecture.from_config(
            models.architecture_config(prepared.model, len(prepared.tokenizer)), num_labels=suite.task.num_labels)
    except (FinetuneError, ValueError) as err:
        return None, f"the model's architecture is unknown: {err}"
    lengths = [len(ids) for ids in prepared.tokenized["train"]["input_ids"]]
    length = padded_length(lengths)
    batches = math.ceil(len(lengths) / QUALITY_BATCH_SIZE)
    eval_rows = sum(len(prepared.tokenized[split]) for split in suite.task.eval_splits)
    return Costs.measured(gflops, flops.training_flops(arch, QUALITY_BATCH_SIZE, round(length)),
                          suite.options.epochs * batches, math.ceil(eval_rows / QUALITY_BATCH_SIZE),
                          efficiency=EFFICIENCY[kind]), ""
