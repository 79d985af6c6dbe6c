"""The benchmark session: its options, model, data and baselines, built once; the runs cached for the claims, the
summary and --update-baselines; what runs here and what skips, with why. Its judgements, each figure against the
stored group it has, are bench/session/comparisons.py's (StoredFigures); the records are bench/session/recording.py's, the judgements' rules
bench/judge/verdicts.py's, the store bench/store/baselines.py's, the baseline update bench/store/update.py's, the
cost estimate bench/session/plan.py's; the engine (finetune/engines) does everything framework-specific.
"""

from __future__ import annotations

import contextlib
import shlex
import sys

import pytest

from bench.store import contract
from bench.session import gating
from bench.session import recording
from bench.timing import reference_revision
from bench.store import baselines
from bench.timing import processes
from bench.session.tiers import QUALITY_BATCH_SIZE, Options
from bench.session.comparisons import StoredFigures
from bench.session.what_runs import WhatRuns
from bench.store.baselines import BASELINE_DIR
from finetune import (FinetuneError, RunConfig, cluster, data, models, engines, environment, metrics, perf,
                      runtime, steptime)
from finetune.hardware import Host
from finetune.result import Result
from finetune.tasks import METRIC_RANGE, TASKS
from finetune.train import finetune


def fail_clearly(err: FinetuneError):
    pytest.exit(f"finetune: {err}", returncode=4)


class Suite(StoredFigures, WhatRuns):
    def __init__(self, options: Options, invocation: list[str]):
        self.options = options
        self.command = "pytest " + shlex.join(invocation)
        self.host = Host.here()
        self.hardware_key = environment.hardware_key()  # the fingerprint (finetune.hardware)
        self.engine = engines.get(options.engine, options.backend)  # finetune/engines: the harness never branches on it
        self.world = cluster.World.from_env()  # the workers of this session (bench.launch), read once here
        if options.reference:
            reference_revision.resolve(options.reference)  # a revision git cannot resolve: one line, before any test runs
        directory = self.baseline_dir = options.baselines or BASELINE_DIR
        self.baseline_path = baselines.path_for(directory, options.model, self.hardware_key)
        self.baseline = baselines.load(self.baseline_path)
        self.other_baselines = baselines.others(directory, options.model, self.hardware_key)
        self.night_path = None  # where this session was kept as a night (--history), once written
        self.night_error = None  # why it was not
        self._calibration = None
        self._collapse = None
        self._device_baselines: dict = {}  # fingerprint -> the baseline of another device's figures (judged.py)
        self._lent: dict = {}  # quality key -> (bench.store.lending.Lent or None, why none): bands lent by other hosts
        self.variant_results: dict = {}  # (variant, seed) -> Result of its fine-tune
        self._prepared = None
        self.quality_results: dict = {}  # (loss, optimizer, seed) -> Result
        self.step_results: dict = {}  # (device, batch_size, seed) -> contract.StepTime
        self.verdicts: list = []  # (test id, passed, message), for the summary
        self.figures_judged: list = []  # (test id, figure, passed, the lender of its band or ""): the gate summary
        self.outcomes: dict = {}  # test id -> bench.session.summary.Outcome, as its reports arrive
        self.records_checked = 0  # records read back whole against bench.store.contract (the contract gate)
        self.records_broken = 0
        self.progress = None  # bench.session.progress.Progress, once the session's plan is made (bench/conftest.py)

    # --- configuration -------------------------------------------------------------------------------
    @property
    def task(self):
        """The task's row of finetune.tasks.TASKS."""
        return TASKS[self.options.task]

    def run_config(self, loss="from_logits", optimizer="linear-decay", seed=0, **changes) -> RunConfig:
        fields = dict(task=self.options.task, model=self.options.model, loss=loss, optimizer=optimizer,
                      epochs=self.options.epochs, batch_size=QUALITY_BATCH_SIZE, seed=seed,
                      max_train_samples=self.options.train_rows,
                      glue_dir=self.options.glue_dir, engine=self.options.engine, backend=self.options.backend)
        fields.update(changes)
        try:
            return RunConfig(**fields)
        except FinetuneError as err:
            fail_clearly(err)

    def prepared(self) -> data.PreparedData:
        if self._prepared is None:
            try:
                self._prepared = data.prepare(self.run_config())
            except FinetuneError as err:
                fail_clearly(err)
        return self._prepared

    def quality_key(self, loss: str, optimizer: str) -> str:
        return baselines.quality_key(self.options.task, loss, optimizer, self.options.epochs, self.options.train_rows,
                                 QUALITY_BATCH_SIZE, self.options.engine_name)

    def step_key(self, device: str, batch_size: int) -> str:
        tier = self.options.tier
        return baselines.step_key(self.options.task, device, batch_size, tier.step_passes, tier.step_batches,
                              tier.step_processes, self.options.engine_name)

    def session_keys(self) -> dict:
        """{"quality": [...], "step time": [...]}: the stored groups this session's gates compare against."""
        devices = [d for d in ("cpu", "gpu") if self.options.device in (None, d)]
        return {"quality": [self.quality_key(*recipe) for recipe in self.options.tier.recipes],
                "step time": [self.step_key(d, b) for d in devices for b in self.options.tier.batch_sizes]}

    def baseline_holdings(self) -> str:
        """What the baseline file holds for this session, for the header: `found` only where it holds a group of
        this session's keys; else what it holds instead (a file with only bench.tune's choice gates nothing)."""
        if self.baseline is None:
            return ("MISSING: step times skip; quality bands are lent by hosts of the same numerics where they "
                    "agree; create this machine's with --update-baselines")
        figures = self.baseline.get("figures") or {}
        held = {kind: sum(key in figures for key in keys) for kind, keys in self.session_keys().items()}
        counts = ", ".join(f"{kind} {held[kind]} of {len(keys)}" for kind, keys in self.session_keys().items())
        if any(held.values()):
            return f"found: this session's groups held: {counts}"
        other = [f"{len(figures)} group(s) of other keys"] if figures else []
        other += ["bench.tune's choice"] if self.baseline.get("tuned") else []
        return (f"holds none of this session's groups ({counts}); it holds {' and '.join(other) or 'nothing'}: "
                "create them with --update-baselines")

    # --- runs ----------------------------------------------------------------------------------------
    def quality(self, loss: str, optimizer: str, seed: int) -> Result:
        """The fine-tune of one variant and seed, run once per session and shared by the tests."""
        self.skip_without_quality()
        key = (loss, optimizer, seed)
        if key not in self.quality_results:
            try:
                self.quality_results[key] = finetune(
                    self.run_config(loss, optimizer, seed), self.prepared(), verbose=0,
                    model_choice=self.options.model_choice, calibration=self.calibration,
                    callbacks=self.slowdown() + self.reported(("recipe", (loss, optimizer), seed),
                                                              f"{loss} + {optimizer}, seed {seed}"))
            except FinetuneError as err:
                fail_clearly(err)
        return self.quality_results[key]

    def skip_without_quality(self) -> None:
        """A model of random weights standing in for a trained one (bert-base-random) has step times only."""
        why = models.no_quality(self.options.model)
        if why:
            pytest.skip(why)

    def reported(self, key, label: str) -> tuple:
        """The progress hooks of the fine-tune `key` (bench.session.plan's), where the session reports progress."""
        return () if self.progress is None else (self.progress.callback(key, label),)

    def slowdown(self) -> tuple:
        """The planted slowdown's hooks for a fine-tune (none unless --plant-slowdown)."""
        return gating.slowdown_callbacks(self.options.plant_slowdown)

    def step_processes(self, config: RunConfig, batches: int, count: int) -> processes.Processes:
        """`count` timing processes of `config`'s training step over its first `batches` batches (bench.timing.processes),
        slowed by --plant-slowdown where asked; a process that fails ends the session in one line."""
        try:
            return processes.Processes(count, self._block_options(config, batches, self.options.plant_slowdown))
        except processes.WorkerFailed as err:
            pytest.exit(f"bench: {err}", returncode=4)

    def reference_processes(self, config: RunConfig, batches: int, count: int):
        """The --reference revision's timing processes beside the gated step time's (bench/timing/reference_revision.py), never
        slowed by --plant-slowdown; a null context without --reference. A failure ends the session in one line."""
        if not self.options.reference:
            return contextlib.nullcontext(None)
        try:
            return reference_revision.Reference(self.options.reference, count, self._block_options(config, batches, 0.0))
        except FinetuneError as err:
            pytest.exit(f"bench: {err}", returncode=4)

    def _block_options(self, config: RunConfig, batches: int, slowdown: float) -> list[str]:
        return processes.block_options(config.model, batches, config.glue_dir, config.batch_size, config.device,
                                     config.seed, slowdown, task=config.task, engine_flags=self.engine.flags())

    def timed(self, bench):
        """What a benchmark times of a StepBench: its passes, slowed by --plant-slowdown where asked."""
        return gating.slowed(bench.timed_pass, self.options.plant_slowdown)

    # --- records (bench/session/recording.py: pure functions of a run; tests call them with `context`) ------------
    @property
    def context(self) -> recording.Context:
        return recording.Context(self.options.model, self.options.tier.name, self.options.epochs,
                               self.options.engine_name, self.options.plant_slowdown)

    def step_record(self, c: RunConfig, described: dict, blocks_ms: list, pass_times_s: list,
                    reference_entry: dict | None = None) -> contract.StepTime:
        """The gated step time's record; the GPU/CPU speed-up once both devices ran (the session's cache)."""
        record = recording.step_time(self.context, c, described, blocks_ms, pass_times_s, reference_entry)
        other_key = ("cpu" if c.device == "gpu" else "gpu", c.batch_size, c.seed)
        if other_key in self.step_results:
            record, self.step_results[other_key] = recording.with_speedup(record, self.step_results[other_key])
        self.step_results[(c.device, c.batch_size, c.seed)] = record
        return record

    def faster_record(self, course: Result, best: Result, variant: str, target: float | None) -> contract.Faster:
        return recording.faster(self.context, course, best, variant, target, self.runs_as(perf.VARIANTS[variant]))

    def multi_worker_quality_record(self, world, r: Result) -> contract.MultiWorkerQuality:
        return recording.multi_worker_quality(self.context, world, self.engine.collective(), r)

    # --- performance variants ------------------------------------------------------------------------
    def perf_kind(self) -> str:
        return runtime.device_kind(self.perf_device())

    def perf_device(self) -> str:
        """The device the variants are timed on: --device, else what auto placement uses here (an engine that
        places ops itself: where its backend runs)."""
        return self.engine.device_kind(self.options.device)

    def bench(self, config: RunConfig, prepared: data.PreparedData, batches: int):
        """The engine's StepBench of `config` over the first `batches` batches of `prepared`."""
        return self.engine.step_bench(config, prepared, batches)

    def runs_as(self, config: perf.PerfConfig) -> perf.PerfConfig:
        """The performance configuration as this session's engine runs it (keras3 on JAX: XLA, lengths of 8)."""
        return self.engine.runs_as(config)

    def clear_session(self) -> None:
        """The engine's Keras forgets the models built so far (between benchmarks)."""
        self.engine.clear_session()

    def perf_config(self, variant: str, seed: int, **changes) -> RunConfig:
        return self.run_config(seed=seed, perf=self.variant_config(variant),
                               **{"device": self.perf_device(), **changes})

    def first_rows(self, count: int) -> data.PreparedData:
        """The first `count` training rows only: every variant timed on the same examples."""
        return steptime.first_rows(self.prepared(), count)

    def profile(self, bench) -> dict:
        """One more pass of `bench` under the engine's profiler: ms per step by category (finetune.profile)."""
        import tempfile
        from pathlib import Path

        from finetune import profile

        with tempfile.TemporaryDirectory(prefix="profile-") as logdir:
            try:
                found = profile.profile_pass(bench, self.engine, Path(logdir))
            except FinetuneError as err:  # e.g. an engine without a profiler: said in the record and the report
                return {"unavailable": str(err)}
        if getattr(bench, "model", None) is not None:  # a Keras model (either engine's Adam moves 28 bytes a weight)
            from finetune import adam  # the update's bytes: its roofline row in the report (finetune/bandwidth.py)

            found.update(adam.bytes_per_step(bench.model, bench.config.perf.update, bench.batches))
        return found

    def length_sample(self, count: int) -> data.PreparedData:
        """`count` training rows that follow the task's lengths (steptime.length_sample): every variant timed on
        the same examples, and ones that stand for the task (padding and bucketing pay by length)."""
        return steptime.length_sample(self.prepared(), count, seed=0)

    def variant_quality(self, variant: str, seed: int) -> Result:
        """A performance variant's fine-tune of the tier's length (`best` resolved for this host), run once per
        session: test_variant_quality judges its quality, test_faster_than_the_course its time."""
        self.skip_without_quality()
        name = self.resolved_variant(variant)
        key = (name, seed)
        if key not in self.variant_results:
            config = self.perf_config(name, seed, device="auto")
            try:
                self.variant_results[key] = finetune(config, self.prepared(), verbose=0,
                                                     model_choice=self.options.model_choice,
                                                     perf_choice=self.best_text() if variant == "best" else name,
                                                     calibration=self.calibration,
                                                     callbacks=self.slowdown() + self.reported(
                                                         ("variant", name, seed), f"variant {name}, seed {seed}"))
            except FinetuneError as err:
                fail_clearly(err)
        return self.variant_results[key]

    def best_text(self) -> str:
        row = self.best_choice()
        target = "no speed claim" if row.target is None else f"target <= {row.target}x the course"
        return f"best = {row.variant} (for {row.needs}; {target}; {row.evidence})"

    def compare_scores(self, test_id: str, result: Result, key: str) -> list:
        """[(metric, (passed, message))] of each of the task's GLUE metrics against its stored band."""
        collapse = self.collapse_scores()
        return [(name, self.compare(test_id, name, value, key, resolution=1 / result.num_eval_examples,
                                    limits=METRIC_RANGE[name], collapse=collapse.get(name),
                                    collapsed=result.collapsed))
                for name, value in result.scores.items()]

    def collapse_scores(self) -> dict:
        """{metric: {label: its score when every validation example is predicted as that label}} of the task's
        headline validation split (none for a regression): a band that holds one cannot gate a collapse."""
        if self._collapse is None:
            self._collapse = {}
            if self.task.num_labels > 1:
                labels = self.prepared().tokenized[self.task.eval_splits[0]]["label"]
                self._collapse = metrics.constant_scores(self.task, labels)
        return self._collapse

    def provenance(self) -> dict:
        return {"command": self.command, "versions": self.engine.versions(), "hardware": environment.hardware(),
                "fingerprint": self.hardware_key, "calibration": self.calibration, "tier": self.options.tier.name}


def invocation_args() -> list[str]:
    return sys.argv[1:]
