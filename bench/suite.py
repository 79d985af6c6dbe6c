"""The benchmark session: model, data and baselines, built once; the runs cached for the claims, the summary and
--update-baselines; each benchmark's record (bench.contract) built from its run; and the verdicts against the
store (bench.store).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shlex
import statistics
import sys

import pytest

from bench import contract, gate, plan, reference, store, workers
from bench.options import PERF_QUALITY_TIERS, QUALITY_BATCH_SIZE, SCALING_ROUNDS, Options
from bench.store import BASELINE_DIR
from finetune import (FinetuneError, RunConfig, calibration, data, engines, environment, flops, metrics, models, perf,
                      runtime, steptime)
from finetune.hardware import Host
from finetune.result import Result
from finetune.tasks import METRIC_RANGE, TASKS
from finetune.train import finetune


def device_name(kind: str) -> str:
    """The device in words, as the records show it."""
    return environment.cpu_model() if kind == "cpu" else ", ".join(environment.gpu_names())


def fail_clearly(err: FinetuneError):
    pytest.exit(f"finetune: {err}", returncode=4)


class Suite:
    def __init__(self, options: Options, invocation: list[str]):
        self.options = options
        self.command = "pytest " + shlex.join(invocation)
        self.host = Host.here()
        self.hardware_key = environment.hardware_key()  # the fingerprint (finetune.hardware)
        self.engine = engines.get(options.engine, options.backend)  # finetune/engines: the harness never branches on it
        if options.reference:
            reference.resolve(options.reference)  # a revision git cannot resolve: one line, before any test runs
        directory = options.baselines or BASELINE_DIR
        self.baseline_path = store.path_for(directory, options.model, self.hardware_key)
        self.baseline = store.load(self.baseline_path)
        self.other_baselines = store.others(directory, options.model, self.hardware_key)
        self.night_path = None  # where this session was kept as a night (--history), once written
        self.night_error = None  # why it was not
        self._calibration = None
        self._collapse = None
        self.variant_results: dict = {}  # (variant, seed) -> Result of its fine-tune
        self._prepared = None
        self.quality_results: dict = {}  # (loss, optimizer, seed) -> Result
        self.step_results: dict = {}  # (device, batch_size, seed) -> contract.StepTime
        self.verdicts: list = []  # (test id, passed, message), for the summary
        self.progress = None  # bench.progress.Progress, once the session's plan is made (bench/conftest.py)

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
        return store.quality_key(self.options.task, loss, optimizer, self.options.epochs, self.options.train_rows,
                                 QUALITY_BATCH_SIZE, self.options.engine_name)

    def step_key(self, device: str, batch_size: int) -> str:
        tier = self.options.tier
        return store.step_key(self.options.task, device, batch_size, tier.step_passes, tier.step_batches,
                              tier.step_processes, self.options.engine_name)

    # --- runs ----------------------------------------------------------------------------------------
    def quality(self, loss: str, optimizer: str, seed: int) -> Result:
        """The fine-tune of one variant and seed, run once per session and shared by the tests."""
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

    def reported(self, key, label: str) -> tuple:
        """The progress callback of the fine-tune `key` (bench.plan's), where the session reports progress."""
        return () if self.progress is None else (self.progress.callback(key, label, self.engine),)

    def slowdown(self) -> tuple:
        """The planted slowdown's Keras callbacks for a fine-tune (none unless --plant-slowdown)."""
        return gate.slowdown_callbacks(self.options.plant_slowdown, self.engine)

    def step_processes(self, config: RunConfig, batches: int, count: int) -> workers.Processes:
        """`count` timing processes of `config`'s training step over its first `batches` batches (bench.workers),
        slowed by --plant-slowdown where asked; a process that fails ends the session in one line."""
        try:
            return workers.Processes(count, self._block_options(config, batches, self.options.plant_slowdown))
        except workers.WorkerFailed as err:
            pytest.exit(f"bench: {err}", returncode=4)

    def reference_processes(self, config: RunConfig, batches: int, count: int):
        """The --reference revision's timing processes beside the gated step time's (bench/reference.py), never
        slowed by --plant-slowdown; a null context without --reference. A failure ends the session in one line."""
        if not self.options.reference:
            return contextlib.nullcontext(None)
        try:
            return reference.Reference(self.options.reference, count, self._block_options(config, batches, 0.0))
        except FinetuneError as err:
            pytest.exit(f"bench: {err}", returncode=4)

    def _block_options(self, config: RunConfig, batches: int, slowdown: float) -> list[str]:
        return workers.block_options(config.model, batches, config.glue_dir, config.batch_size, config.device,
                                     config.seed, slowdown, task=config.task, engine_flags=self.engine.flags())

    def timed(self, bench):
        """What a benchmark times of a StepBench: its passes, slowed by --plant-slowdown where asked."""
        return gate.slowed(bench.timed_pass, self.options.plant_slowdown)

    # --- records (bench.contract) ------------------------------------------------------------------------
    def common(self, c: dict) -> dict:
        return {"model": self.options.model, "task": c["task"], "device": runtime.device_kind(c["device"]),
                "batch_size": c["batch_size"], "seed": c["seed"], "epochs": c["epochs"], "tier": self.options.tier.name,
                "engine": self.options.engine_name}

    def quality_record(self, r: Result) -> contract.Quality:
        c = r.config
        return contract.Quality(
            **self.common(c), **fit_fields(r), loss=c["loss"], optimizer=c["optimizer"], accuracy=r.accuracy, f1=r.f1,
            scores=r.scores, collapsed=r.collapsed, majority_accuracy=r.majority_accuracy, epoch_losses=r.epoch_losses,
            max_train_samples=c["max_train_samples"], num_train_steps=r.num_train_steps,
            metric_source=r.metric_source, num_eval_examples=r.num_eval_examples, data_source=r.data_source,
            wall_time_s=r.wall_time_s["total"])

    def variant_quality_record(self, variant: str, r: Result) -> contract.VariantQuality:
        c = r.config
        return contract.VariantQuality(
            **self.common(c), **fit_fields(r), variant=variant, loss=c["loss"], optimizer=c["optimizer"],
            accuracy=r.accuracy, f1=r.f1, scores=r.scores, collapsed=r.collapsed, majority_accuracy=r.majority_accuracy,
            max_train_samples=c["max_train_samples"], num_eval_examples=r.num_eval_examples)

    def step_record(self, c: RunConfig, described: dict, blocks_ms: list, pass_times_s: list,
                    reference_entry: dict | None = None) -> contract.StepTime:
        """The gated step time's record, from the passes of its processes (ms/step each) and what they timed
        (the processes' description: StepBench.shape()); adds the GPU/CPU speed-up once both devices ran."""
        passes = [ms for process in blocks_ms for ms in process]
        step_time_ms = statistics.fmean(passes)
        shape = described["shape"]
        record = contract.StepTime(
            model=self.options.model, task=c.task, device=c.device, device_name=device_name(c.device),
            batch_size=c.batch_size, seed=c.seed, epochs=self.options.epochs, tier=self.options.tier.name,
            engine=self.options.engine_name, step_time_ms=step_time_ms, steps_timed=len(passes) * shape["batches"],
            **steptime.rates(shape, step_time_ms), pass_times_s=list(pass_times_s),
            median_step_ms_of_passes=statistics.median(passes), blocks_ms=blocks_ms, processes=len(blocks_ms),
            reference=reference_entry)
        other_key = ("cpu" if c.device == "gpu" else "gpu", c.batch_size, c.seed)
        other = self.step_results.get(other_key)
        if other is not None:
            cpu, gpu = (other, record) if c.device == "gpu" else (record, other)
            speedup = cpu.step_time_ms / gpu.step_time_ms
            record = dataclasses.replace(record, speedup_vs_cpu=speedup)
            self.step_results[other_key] = dataclasses.replace(other, speedup_vs_cpu=speedup)
        self.step_results[(c.device, c.batch_size, c.seed)] = record
        return record

    # --- what runs here (the tests skip with these reasons; bench.plan leaves the same out of its estimate) ---
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
        problem = perf.unsupported_precision(perf.variant(name, self.perf_kind()).precision, self.perf_kind())
        problem = problem or self.engine.unsupported(self.variant_config(name))
        return f"{name}: {problem}" if problem else None

    def variant_step_skip(self, name: str) -> str | None:
        """Why test_variant_step_time does not time the variant `name` in this session: not one of the tier's, or
        a precision this host cannot run."""
        return self.options.tier.times_variant(name, self.best_variant) or self.variant_skip(name)

    def variant_quality_skip(self, name: str) -> str | None:
        """Why test_variant_quality does not fine-tune the variant `name` in this session."""
        if self.options.update:
            return "--update-baselines measures the course's configuration; variants are compared, not stored"
        best = self.best_choice().variant
        tier = self.options.tier.name
        if tier not in PERF_QUALITY_TIERS and name != best:
            return (f"tier {tier}: a fine-tune per variant runs in tiers {PERF_QUALITY_TIERS}; "
                    f"this tier checks the best variant for this host ({best}) only")
        return self.variant_skip(name)

    @property
    def best_variant(self) -> str:
        return self.best_choice().variant

    def best_choice(self) -> perf.BestChoice:
        """perf.BEST_BY_HOST's row for this host; its speed target was measured on tf-keras, so another engine has
        the same variant without a target (test_faster_than_the_course measures, and says, without a claim)."""
        row = perf.best_choice(self.perf_kind())
        if self.engine.speed_targets or row.target is None:
            return row
        return dataclasses.replace(row, target=None, evidence=f"{row.evidence}; measured on tf-keras: no speed claim "
                                                              f"for {self.options.engine_name} yet")

    def resolved_variant(self, name: str) -> str:
        return perf.variant_name(name, self.perf_kind())

    def variant_config(self, name: str) -> perf.PerfConfig:
        return perf.variant(name, self.perf_kind())

    def costs(self) -> tuple:
        """(bench.plan.Costs of this host for the session's task and tier, or None; why none)."""
        prepared = self.prepared()
        kind = runtime.device_kind("auto")
        gflops = self.calibration.get("fp32_gflops")
        if not gflops:
            return None, "no fp32 calibration"
        try:
            arch = flops.Architecture.from_config(
                models.architecture_config(prepared.model, len(prepared.tokenizer)), num_labels=self.task.num_labels)
        except (FinetuneError, ValueError) as err:
            return None, f"the model's architecture is unknown: {err}"
        lengths = [len(ids) for ids in prepared.tokenized["train"]["input_ids"]]
        length = plan.padded_length(lengths)
        batches = math.ceil(len(lengths) / QUALITY_BATCH_SIZE)
        eval_rows = sum(len(prepared.tokenized[split]) for split in self.task.eval_splits)
        return plan.Costs.measured(gflops, flops.training_flops(arch, QUALITY_BATCH_SIZE, round(length)),
                                   self.options.epochs * batches, math.ceil(eval_rows / QUALITY_BATCH_SIZE),
                                   efficiency=plan.EFFICIENCY[kind]), ""

    def scaling_replicas(self) -> int:
        return self.engine.replicas(self.perf_device())

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
        return self.run_config(seed=seed, perf=perf.variant(variant, self.perf_kind()),
                               **{"device": self.perf_device(), **changes})

    def first_rows(self, count: int) -> data.PreparedData:
        """The first `count` training rows only: every variant timed on the same examples."""
        return steptime.first_rows(self.prepared(), count)

    def variant_step_record(self, variant: str, bench, step_time_ms: float, steps: int,
                            kind=contract.VariantStepTime, **more) -> contract.VariantStepTime:
        """A variant's step-time record. Kept out of self.step_results: those are the course's step times, the
        ones --update-baselines stores."""
        c = bench.config
        return kind(model=self.options.model, task=c.task, device=c.device, device_name=device_name(c.device),
                    batch_size=c.batch_size, seed=c.seed, epochs=self.options.epochs, tier=self.options.tier.name,
                    engine=self.options.engine_name,
                    step_time_ms=step_time_ms, steps_timed=steps, **bench.rates(step_time_ms), variant=variant,
                    **perf_fields(c.perf), replicas=bench.replicas, rows=bench.rows,
                    distinct_shapes=len(bench.shapes), traces=bench.traces(),
                    xla_compiles=len(bench.shapes) if c.perf.jit_compile else 0, **more)

    def variant_quality(self, variant: str, seed: int) -> Result:
        """A performance variant's fine-tune of the tier's length (`best` resolved for this host), run once per
        session: test_variant_quality judges its quality, test_faster_than_the_course its time."""
        name = perf.variant_name(variant, self.perf_kind())
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
        target = "no speed claim (unmeasured here)" if row.target is None else f"target <= {row.target}x the course"
        return f"best = {row.variant} (for {row.needs}; {target}; {row.evidence})"

    def faster_record(self, course: Result, best: Result, variant: str, target: float | None) -> contract.Faster:
        """Two whole fine-tunes of the same rows and epochs, the course's and the best variant's, compared by fit()'s
        wall time per step over every epoch (what a user waits for)."""
        c = best.config
        course_ms, best_ms = course.fit["ms_per_step"], best.fit["ms_per_step"]
        return contract.Faster(
            **self.common(c), variant=variant, target=target, best_choice=best.perf_choice,
            **perf_fields(self.runs_as(perf.VARIANTS[variant])), step_time_ms=best_ms, course_step_time_ms=course_ms,
            speedup=course_ms / best_ms, compile_s=best.fit["compile_s"], course_compile_s=course.fit["compile_s"],
            examples_per_s=best.examples_per_s, course_examples_per_s=course.examples_per_s,
            median_step_ms=best.step_time["median_ms"], course_median_step_ms=course.step_time["median_ms"],
            accuracy=best.accuracy, f1=best.f1, course_accuracy=course.accuracy, course_f1=course.f1,
            comparison=f"whole fine-tunes: {c['epochs']} epoch(s) over the same {best.num_train_examples} rows; "
                       "ms per step = fit() wall time over every epoch / steps")

    def scaling_record(self, single, mirrored, passes: dict) -> contract.Scaling:
        # Mean over timed passes (in ABBA order a steady drift in the machine's load cancels out of the mean).
        single_ms = single.ms_per_step(passes["single"]["wall_s"])
        mirrored_ms = mirrored.ms_per_step(passes["mirrored"]["wall_s"])
        # (examples/s with R replicas) / (R x examples/s with one), the per-replica batch held at one device's
        efficiency = ((mirrored.config.batch_size / mirrored_ms)
                      / (mirrored.replicas * single.config.batch_size / single_ms))
        return self.variant_step_record("mirrored", mirrored, mirrored_ms, SCALING_ROUNDS * len(mirrored.batches),
                                        kind=contract.Scaling, single_device_step_time_ms=single_ms,
                                        per_replica_batch=mirrored.config.batch_size // mirrored.replicas,
                                        scaling_efficiency=efficiency)

    def compare_scores(self, test_id: str, result: Result, key: str) -> list:
        """[(metric, (passed, message))] of each of the task's GLUE metrics against its stored band."""
        collapse = self.collapse_scores()
        return [(name, self.compare(test_id, name, value, key, resolution=1 / result.num_eval_examples,
                                    limits=METRIC_RANGE[name], collapse=collapse.get(name)))
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

    # --- baselines -----------------------------------------------------------------------------------
    def compare(self, test_id: str, name: str, value: float, key: str, confirm=None, **kwargs) -> tuple:
        """The verdict on `value` against its stored band; with `confirm` (a step time: upper bound only), a value
        above the bound is timed once more before it fails (store.check_confirmed). Only a baseline of this
        host's fingerprint is a gate: with none, the comparison is skipped, naming the machines that have one."""
        if self.options.update:
            verdict = (None, f"{name} {value:.4g} recorded for the baseline update ({key})")
        elif self.baseline is None:
            verdict = (None, self.missing_baseline(name, key))
        else:
            where = f"{self.options.model} on {self.hardware_key}, {key}"
            if confirm is None:
                group = (self.baseline.get("figures") or {}).get(key)
                verdict = store.check_quality(name, value, group, where, create=self.create_command(), **kwargs)
            else:
                verdict = store.check_confirmed(name, value, store.figure_of(self.baseline, key, name), where, confirm,
                                                create=self.create_command())
        self.verdicts.append((test_id, *verdict))
        return verdict

    def compare_step(self, test_id: str, blocks_ms: list, key: str, confirm) -> tuple:
        """A step time's verdict: its blocks (per process, passes as ms/step) against stored sessions
        (store.check_blocks): this runner's own nights where --history holds enough of them (bench.history.
        baseline_group), else the committed baseline's sessions, else the band of older baselines (compare). A
        calibration that drifted from the baseline's is named in the message; it never turns a failure into a skip
        (the calibration does not track the step: docs/gates.md). Returns (passed, message, statistics or None)."""
        group = ((self.baseline or {}).get("figures") or {}).get(key)
        source = f"{self.options.model} on {self.hardware_key}, {key}"
        nights, why_not = self.history_group(key)
        if nights is not None:
            group, source = nights, f"{source}; this runner's history: {nights['provenance']['described']}"
        if self.options.update or (nights is None and (self.baseline is None or not store.stored_sessions(group))):
            def mean(processes) -> float:
                return sum(map(sum, processes)) / sum(map(len, processes))

            passed, message = self.compare(test_id, "step_time_ms", mean(blocks_ms), key,
                                           confirm=lambda: mean(confirm()))
            if why_not and passed is None:
                message = f"{message}; {why_not}"
                self.verdicts[-1] = (test_id, passed, message)
            return passed, message, None
        passed, message, statistics_ = store.check_blocks("step_time_ms", blocks_ms, group, source, confirm)
        warning = None if nights is not None else self.calibration_warning()
        if warning:
            message = f"{message} [note: {warning}]"
        self.verdicts.append((test_id, passed, message))
        return passed, message, statistics_

    def history_group(self, key: str) -> tuple:
        """(a step-time group of this runner's nights under --history, or None; why none, or "")."""
        if self.options.history is None:
            return None, ""
        from bench import history

        return history.baseline_group(self.options.history, self.hardware_key, key,
                                      self.engine.versions())

    def missing_baseline(self, name: str, key: str) -> str:
        here = f"{self.hardware_key}: {self.host.describe(runtime.device_kind('auto'))}"
        others = "; ".join(f"{other} ({described})" for other, described in self.other_baselines) or "none"
        nights = "" if self.options.history is not None or not key.startswith("step_time/") else (
            "; or keep this runner's nights with --history DIR: its step time is gated from the 3rd")
        return (f"no baseline for {name} ({key}) on this machine ({here}); baselines of other machines are never a "
                f"gate: {others}. Create one here with: {self.create_command()}{nights}")

    def create_command(self) -> str:
        """The command that measures this session's missing baselines here."""
        engine = "".join(f"{flag} " for flag in self.engine.flags())
        return f"python3 dev.py bench --tier {self.options.tier.name} {engine}--update-baselines --seeds 5"

    @property
    def calibration(self) -> dict:
        """The calibration workload (finetune.calibration), timed once, on first use: the session's start."""
        if self._calibration is None:
            self._calibration = calibration.measure(runtime.device_kind("auto"))
        return self._calibration

    def calibration_warning(self) -> str | None:
        stored = ((self.baseline or {}).get("calibration")) or None
        return calibration.drift(self.calibration, stored)

    def provenance(self) -> dict:
        return {"command": self.command, "versions": self.engine.versions(), "hardware": environment.hardware(),
                "fingerprint": self.hardware_key, "calibration": self.calibration, "tier": self.options.tier.name}

    def updated_groups(self) -> dict:
        provenance = self.provenance()
        groups = store.quality_groups([r.to_dict() for r in self.quality_results.values()], provenance)
        stored = (store.load(self.baseline_path) or {}).get("figures") or {}
        for (device, batch_size, seed), record in sorted(self.step_results.items()):
            key = self.step_key(device, batch_size)  # each seed's step time is one session of the group
            groups[key] = store.step_group(record.blocks_ms, groups.get(key) or stored.get(key), {
                **provenance, "seeds": [seed], "device": record.device_name})
        return groups

    def write_baselines(self) -> str:
        groups = self.updated_groups()
        if not groups:
            return "--update-baselines: nothing was measured, baselines unchanged"
        header = {"model": self.options.model, "hardware_key": self.hardware_key, "hardware": environment.hardware(),
                  "calibration": self.calibration}
        current = store.load(self.baseline_path)  # re-read: another update may have landed meanwhile
        document = store.merged(current, header, groups)
        store.write_atomic(self.baseline_path, document)
        return f"--update-baselines: wrote {len(groups)} figure group(s) to {self.baseline_path}"


def fit_fields(r: Result) -> dict:
    """A fine-tune's speed in the JSON contract: the headline over whole epochs, the diagnostics beside it."""
    return {"step_time_ms": r.fit["ms_per_step"], "examples_per_s": r.examples_per_s, "compile_s": r.fit["compile_s"],
            "epoch_s": r.fit["epoch_s"], "steps_timed": r.fit["steps"], "median_step_ms": r.step_time["median_ms"],
            "step_time_iqr_ms": r.step_time["iqr_ms"], "peak_rss_mb": r.peak_rss_mb}


def perf_fields(variant: perf.PerfConfig) -> dict:
    return {f"perf_{name}": value for name, value in variant.__dict__.items()}


def invocation_args() -> list[str]:
    return sys.argv[1:]
