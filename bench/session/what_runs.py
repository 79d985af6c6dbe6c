"""What runs in this session, and why not: the reasons the benchmarks skip with (bench.session.plan leaves the same
out of its estimate), and which performance variant is this host's best. A mixin of the session's Suite (it reads
the session's options, engine and host)."""

from __future__ import annotations

import dataclasses

from bench.judge import ranking
from bench.session.tiers import PERF_QUALITY_TIERS, QUALITY_BATCH_SIZE
from finetune import environment, perf, tuned_choice


class WhatRuns:
    def step_skip(self, device: str) -> str | None:
        """Why the gated step time on `device` does not run in this session."""
        if self.options.device not in (None, device):
            return f"--device {self.options.device} was asked for"
        if self.engine.device_skip(device):
            return self.engine.device_skip(device)
        if device == "gpu" and not environment.gpu_names():
            return ("TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') is empty); "
                    "on a GPU runner install the [gpu] extra: FINETUNE_EXTRAS=report,gpu python3 dev.py bench")
        return None

    def variant_skip(self, name: str) -> str | None:
        """Why the performance variant `name` cannot run on this host (a precision it has no native support for)."""
        problem = perf.unsupported_precision(self.variant_config(name).precision, self.perf_kind())
        problem = problem or self.engine.unsupported(self.variant_config(name))
        return f"{name}: {problem}" if problem else None

    def variant_step_skip(self, name: str) -> str | None:
        """Why test_variant_step_time does not time the variant `name` in this session: not one of the tier's, or
        a precision this host cannot run."""
        claimed = self.best_variant if self.best_choice().target is not None else None  # as best_fine_tune_skip
        return self.options.tier.times_variant(name, claimed) or self.variant_skip(name)

    def best_fine_tune_skip(self) -> str | None:
        """Why this session does not fine-tune the host's best variant: a tier that fine-tunes it only for a claim."""
        row = self.best_choice()
        if row.target is not None or self.options.tier.best_without_claim:
            return None
        return (f"tier {self.options.tier.name} fine-tunes the best variant ({row.variant}) only where it carries a "
                f"speed claim, and {row.needs} has none ({row.evidence}): --tier full checks its quality and time")

    def variant_quality_skip(self, name: str) -> str | None:
        """Why test_variant_quality does not fine-tune the variant `name` in this session."""
        if self.options.update:
            return "--update-baselines measures the course's configuration; variants are compared, not stored"
        best = self.best_choice().variant
        if name in ("best", best) and self.best_fine_tune_skip():
            return self.best_fine_tune_skip()
        tier = self.options.tier.name
        if tier not in PERF_QUALITY_TIERS and name != best:
            return (f"tier {tier}: a fine-tune per variant runs in the {' and '.join(PERF_QUALITY_TIERS)} tier only; "
                    f"this tier checks the best variant for this host ({best}) only")
        return self.variant_skip(name)

    @property
    def best_variant(self) -> str:
        return self.best_choice().variant

    def best_choice(self) -> perf.BestChoice:
        """This machine's stored choice for the session's engine (its claim measured on that engine), else
        perf.BEST_BY_HOST's row; a row's target was measured on tf-keras, so another engine has the rule's variant
        without a target (test_faster_than_the_course measures, and says, without a claim)."""
        row = tuned_choice.best_choice(self.perf_kind(), self.options.model, self.options.task, QUALITY_BATCH_SIZE,
                                self.engine.label, self.host, self.baseline_dir)
        if row.target is not None and tuned_choice.measured_here(row):
            row = self.claim_at_this_length(row)
        if self.engine.speed_targets or row.target is None or tuned_choice.measured_here(row):
            return row
        return dataclasses.replace(row, target=None, evidence=f"{row.evidence}; measured on tf-keras: no speed claim "
                                                              f"for {self.options.engine_name} yet")

    def claim_at_this_length(self, row: perf.BestChoice) -> perf.BestChoice:
        """The stored choice `row` with its claim projected to this session's fine-tune (bench.judge.ranking.claim_at:
        a compile weighs more over fewer steps), where the stored projection was for another length."""
        steps = self.options.fine_tune_steps
        stored = tuned_choice.stored(self.options.model, self.options.task, self.perf_kind(), QUALITY_BATCH_SIZE,
                                     self.engine.label, self.host, self.baseline_dir)
        found = ranking.claim_at(stored, steps) if stored else None
        if found is None:
            return row
        target, why = found
        return dataclasses.replace(row, target=target, evidence=f"{row.evidence}; over this session's {steps} "
                                                                f"steps: {why}")

    def resolved_variant(self, name: str) -> str:
        """A variant's name, `best` resolved for this machine (finetune.tuned_choice: measured, else the rule)."""
        return self.best_variant if name == "best" else perf.variant_name(name)

    def variant_config(self, name: str) -> perf.PerfConfig:
        return perf.VARIANTS[self.resolved_variant(name)]

    def scaling_replicas(self) -> int:
        return self.engine.replicas(self.perf_device())
