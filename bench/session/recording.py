"""Records: pure functions from a run (a fine-tune's Result, a step bench's passes) to its bench.store.contract record.
The session (bench/session/suite.py) supplies the context; nothing here runs, caches or judges."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass

from bench.store import contract
from bench.session.tiers import SCALING_ROUNDS
from finetune import environment, perf, runtime, steptime
from finetune.result import Result


@dataclass(frozen=True)
class Context:
    """What every record of a session shares besides its run."""

    model: str
    tier: str
    epochs: int
    engine: str  # finetune.engines.Engine.label
    planted_slowdown: float  # --plant-slowdown (0.0: none), in every record; no default: a writer must say


def device_name(kind: str) -> str:
    """The device in words, as the records show it."""
    return environment.cpu_model() if kind == "cpu" else ", ".join(environment.gpu_names())


def fit_fields(r: Result) -> dict:
    """A fine-tune's speed in the JSON contract: the headline over whole epochs, the diagnostics beside it."""
    return {"step_time_ms": r.fit["ms_per_step"], "examples_per_s": r.examples_per_s, "compile_s": r.fit["compile_s"],
            "epoch_s": r.fit["epoch_s"], "steps_timed": r.fit["steps"], "median_step_ms": r.step_time["median_ms"],
            "step_time_iqr_ms": r.step_time["iqr_ms"], "peak_rss_mb": r.peak_rss_mb, "compile_cache": r.compile_cache}


def perf_fields(variant: perf.PerfConfig) -> dict:
    return {f"perf_{name}": value for name, value in variant.__dict__.items()}


def common(ctx: Context, c: dict) -> dict:
    return {"model": ctx.model, "task": c["task"], "device": runtime.device_kind(c["device"]),
            "batch_size": c["batch_size"], "seed": c["seed"], "epochs": c["epochs"], "tier": ctx.tier,
            "engine": ctx.engine, "planted_slowdown": ctx.planted_slowdown}


def quality(ctx: Context, r: Result) -> contract.Quality:
    c = r.config
    return contract.Quality(
        **common(ctx, c), **fit_fields(r), loss=c["loss"], optimizer=c["optimizer"], accuracy=r.accuracy, f1=r.f1,
        scores=r.scores, collapsed=r.collapsed, majority_accuracy=r.majority_accuracy, epoch_losses=r.epoch_losses,
        max_train_samples=c["max_train_samples"], num_train_steps=r.num_train_steps,
        metric_source=r.metric_source, num_eval_examples=r.num_eval_examples, data_source=r.data_source,
        wall_time_s=r.wall_time_s["total"])


def variant_quality(ctx: Context, variant: str, r: Result) -> contract.VariantQuality:
    c = r.config
    return contract.VariantQuality(
        **common(ctx, c), **fit_fields(r), variant=variant, loss=c["loss"], optimizer=c["optimizer"],
        accuracy=r.accuracy, f1=r.f1, scores=r.scores, collapsed=r.collapsed, majority_accuracy=r.majority_accuracy,
        max_train_samples=c["max_train_samples"], num_eval_examples=r.num_eval_examples)


def step_time(ctx: Context, c, described: dict, blocks_ms: list, pass_times_s: list,
              reference: dict | None = None) -> contract.StepTime:
    """The gated step time's record, from the passes of its processes (ms/step each) and what they timed (the
    processes' description: StepBench.shape()); `reference`: bench.timing.reference_revision.Reference.record's entry."""
    passes = [ms for process in blocks_ms for ms in process]
    step_time_ms = statistics.fmean(passes)
    shape = described["shape"]
    return contract.StepTime(
        model=ctx.model, task=c.task, device=c.device, device_name=device_name(c.device),
        batch_size=c.batch_size, seed=c.seed, epochs=ctx.epochs, tier=ctx.tier,
        engine=ctx.engine, planted_slowdown=ctx.planted_slowdown, step_time_ms=step_time_ms,
        steps_timed=len(passes) * shape["batches"],
        **steptime.rates(shape, step_time_ms), pass_times_s=list(pass_times_s),
        median_step_ms_of_passes=statistics.median(passes), blocks_ms=blocks_ms, processes=len(blocks_ms),
        reference=reference)


def with_speedup(record: contract.StepTime, other: contract.StepTime) -> tuple:
    """Both step-time records of one batch size and seed, each with the GPU/CPU speed-up: (record, other)."""
    cpu, gpu = (other, record) if record.device == "gpu" else (record, other)
    speedup = cpu.step_time_ms / gpu.step_time_ms
    return dataclasses.replace(record, speedup_vs_cpu=speedup), dataclasses.replace(other, speedup_vs_cpu=speedup)


def variant_step_time(ctx: Context, variant: str, bench, step_time_ms: float, steps: int,
                      kind=contract.VariantStepTime, **more) -> contract.VariantStepTime:
    c = bench.config
    return kind(model=ctx.model, task=c.task, device=c.device, device_name=device_name(c.device),
                batch_size=c.batch_size, seed=c.seed, epochs=ctx.epochs, tier=ctx.tier, engine=ctx.engine,
                planted_slowdown=ctx.planted_slowdown, step_time_ms=step_time_ms, steps_timed=steps,
                **bench.rates(step_time_ms), variant=variant,
                **perf_fields(c.perf), replicas=bench.replicas, rows=bench.rows,
                distinct_shapes=len(bench.shapes), traces=bench.traces(),
                xla_compiles=len(bench.shapes) if c.perf.jit_compile else 0, **more)


def faster(ctx: Context, course: Result, best: Result, variant: str, target: float | None,
           runs_as: perf.PerfConfig) -> contract.Faster:
    """Two whole fine-tunes of the same rows and epochs, the course's and the best variant's (`runs_as`: as the
    engine runs it), compared by fit()'s wall time per step over every epoch (what a user waits for)."""
    c = best.config
    course_ms, best_ms = course.fit["ms_per_step"], best.fit["ms_per_step"]
    return contract.Faster(
        **common(ctx, c), variant=variant, target=target, best_choice=best.perf_choice,
        **perf_fields(runs_as), step_time_ms=best_ms, course_step_time_ms=course_ms,
        speedup=course_ms / best_ms, compile_s=best.fit["compile_s"], course_compile_s=course.fit["compile_s"],
        examples_per_s=best.examples_per_s, course_examples_per_s=course.examples_per_s,
        median_step_ms=best.step_time["median_ms"], course_median_step_ms=course.step_time["median_ms"],
        accuracy=best.accuracy, f1=best.f1, course_accuracy=course.accuracy, course_f1=course.f1,
        compile_cache=best.compile_cache, comparison=f"whole fine-tunes: {c['epochs']} epoch(s) over the same {best.num_train_examples} rows; "
                   "ms per step = fit() wall time over every epoch / steps")


def scaling(ctx: Context, single, mirrored, passes: dict) -> contract.Scaling:
    # Mean over timed passes (in ABBA order a steady drift in the machine's load cancels out of the mean).
    single_ms = single.ms_per_step(passes["single"]["wall_s"])
    mirrored_ms = mirrored.ms_per_step(passes["mirrored"]["wall_s"])
    # (examples/s with R replicas) / (R x examples/s with one), the per-replica batch held at one device's
    efficiency = ((mirrored.config.batch_size / mirrored_ms)
                  / (mirrored.replicas * single.config.batch_size / single_ms))
    return variant_step_time(ctx, "mirrored", mirrored, mirrored_ms, SCALING_ROUNDS * len(mirrored.batches),
                             kind=contract.Scaling, single_device_step_time_ms=single_ms,
                             per_replica_batch=mirrored.config.batch_size // mirrored.replicas,
                             scaling_efficiency=efficiency)


def world_fields(world, collective: str | None, replicas_per_worker: int) -> dict:
    """The world a multi-worker benchmark ran in; no speed claim where the workers share one host's cores."""
    hosts = world.hosts
    claim = None
    if hosts == 1:
        claim = (f"none: the {world.workers} workers share one host's cores, so they can add no speed; the figure "
                 "is the overhead of the collectives and of one host's cores divided")
    return {"workers": world.workers, "replicas_per_worker": replicas_per_worker, "collective": collective,
            "hosts": hosts, "speed_claim": claim}


def multi_worker_step_time(ctx: Context, world, bench, step_time_ms: float, steps: int, single_ms: float | None,
                           allreduce: tuple, pass_times_s: list) -> contract.MultiWorkerStepTime:
    """The chief's record of the multi-worker step time: this worker's part of each global batch, the one-process
    figure at the same global batch beside it, and the all-reduce timed alone (allreduce: (ms or None, how))."""
    allreduce_ms, how = allreduce
    efficiency = None if single_ms is None else single_ms / (world.workers * step_time_ms)
    return variant_step_time(
        ctx, "multi-worker", bench, step_time_ms, steps, kind=contract.MultiWorkerStepTime,
        **world_fields(world, bench.collective, bench.replicas // world.workers),
        worker_batch_size=bench.config.batch_size // world.workers,
        single_process_step_time_ms=single_ms, scaling_efficiency=efficiency, allreduce_ms=allreduce_ms,
        allreduce_share=None if allreduce_ms is None else allreduce_ms / step_time_ms, allreduce_how=how,
        pass_times_s=list(pass_times_s))


def multi_worker_quality(ctx: Context, world, collective: str | None, r: Result) -> contract.MultiWorkerQuality:
    c = r.config
    return contract.MultiWorkerQuality(
        **common(ctx, c), **fit_fields(r), variant="multi-worker", loss=c["loss"], optimizer=c["optimizer"],
        accuracy=r.accuracy, f1=r.f1, scores=r.scores, collapsed=r.collapsed, majority_accuracy=r.majority_accuracy,
        max_train_samples=c["max_train_samples"], num_eval_examples=r.num_eval_examples,
        **world_fields(world, collective, 1))
