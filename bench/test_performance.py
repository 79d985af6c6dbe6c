"""Speed: the variants of finetune/perf.py (padding, XLA, precision, MirroredStrategy), and the claim that the
best of them takes a training step in at most 3/4 of the course's time without losing quality (its quality
is checked in every tier, every other variant's in the full tier).

    pytest bench/test_performance.py --benchmark-json=perf.json [--tier ci] [-k faster_than_the_course]

Every variant is timed on the same examples: the first `timed_steps` x 8 training rows, all of them batched
(bucketing regroups them into as many batches). Warm-up (one untimed pass: tracing, and an XLA compile per
shape) is outside the figures. Quality runs record `variant_accuracy` / `variant_f1`, not `accuracy` / `f1`:
bench.ingest and the report take every benchmark with `accuracy` for a course-configuration figure.
"""

import pytest

import finetune  # noqa: F401
from bench.suite import (FASTER_ROUNDS, FASTER_THAN_COURSE, PERF_QUALITY_TIERS, QUALITY_BATCH_SIZE, WINNER,
                         device_label)
from finetune import baselines, perf, runtime
from finetune.perf import VARIANTS
from finetune.steptime import StepBench, interleaved_passes
from finetune.train import finetune as fine_tune

NUMERIC_VARIANTS = [name for name, variant in VARIANTS.items() if variant.changes_numerics]


def _skip_unsupported(suite, name):
    problem = perf.unsupported_precision(perf.variant(name).precision, suite.perf_device())
    if problem:
        pytest.skip(f"{name}: {problem}")


def _bench(suite, name, seed, steps, batch_size=QUALITY_BATCH_SIZE):
    config = suite.perf_config(name, seed, batch_size=batch_size)
    return StepBench(config, suite.first_rows(steps * batch_size), num_batches=steps)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_step_time(benchmark, suite, variant, seed):
    _skip_unsupported(suite, variant)
    steps = suite.options.tier.timed_steps
    bench = _bench(suite, variant, seed, steps)
    bench.timed_pass()  # warm-up over every batch, so every shape is traced and compiled before timing
    traced = bench.traces()
    benchmark.group = f"performance variants {suite.options.model} batch {QUALITY_BATCH_SIZE}"
    benchmark.pedantic(bench.step, rounds=steps, iterations=1)
    step_time_ms = 1000.0 * benchmark.stats.stats.median
    benchmark.extra_info.update(suite.perf_step_info(variant, bench, step_time_ms, steps))
    assert bench.rows == steps * QUALITY_BATCH_SIZE, "not the same examples as the other variants"
    assert bench.traces() == traced, f"retraced while timed ({traced} -> {bench.traces()}): the warm-up missed a shape"


def test_faster_than_the_course(benchmark, suite, seed):
    _skip_unsupported(suite, "best")
    steps = suite.options.tier.timed_steps
    course, best = _bench(suite, "course", seed, steps), _bench(suite, "best", seed, steps)
    benchmark.group = f"faster than the course {suite.options.model}"
    passes = benchmark.pedantic(interleaved_passes, args=({"course": course, "best": best}, FASTER_ROUNDS),
                                rounds=1, iterations=1)
    info = suite.faster_info(course, best, passes)
    benchmark.extra_info.update(info)
    # Same rows, same number of batches: the pass times compare the same work.
    assert best.rows == course.rows and len(best.batches) == len(course.batches)
    assert info["step_time_ms"] <= FASTER_THAN_COURSE * info["course_step_time_ms"], (
        f"best ({perf.BEST}) {info['step_time_ms']:.1f} ms/step is {1 / info['speedup']:.2f}x the course's "
        f"{info['course_step_time_ms']:.1f} ms/step, not <= {FASTER_THAN_COURSE}x "
        f"(CPU time {1 / info['cpu_speedup']:.2f}x; passes {passes})")


def test_mirrored_scaling(benchmark, suite, seed):
    """Weak scaling: the course's 8 rows per replica, so the global batch is 8 x replicas."""
    replicas = len(runtime.replica_devices(suite.perf_device()))
    if replicas < 2:
        pytest.skip(f"TensorFlow sees one {suite.perf_device()} device: scaling needs two or more "
                    "(GPUs; logical CPUs must be made before TensorFlow starts, see tests/test_distribute.py)")
    steps = suite.options.tier.timed_steps
    single = _bench(suite, "course", seed, steps)
    mirrored = _bench(suite, "mirrored", seed, steps, batch_size=QUALITY_BATCH_SIZE * replicas)
    benchmark.group = f"mirrored scaling {suite.options.model}"
    passes = benchmark.pedantic(interleaved_passes, args=({"single": single, "mirrored": mirrored}, FASTER_ROUNDS),
                                rounds=1, iterations=1)
    info = suite.scaling_info(single, mirrored, passes)
    benchmark.extra_info.update(info)
    assert mirrored.replicas == replicas and info["per_replica_batch"] == QUALITY_BATCH_SIZE
    # At or below 1/replicas the replicas add nothing: e.g. all of them placed on one device.
    assert info["scaling_efficiency"] > 1.0 / replicas, f"scaling efficiency {info['scaling_efficiency']:.2f}"


@pytest.mark.parametrize("variant", NUMERIC_VARIANTS)
def test_variant_quality(benchmark, suite, variant, seed, request):
    """A variant that changes the arithmetic or the batches must land in the course's own quality band."""
    if suite.options.update:
        pytest.skip("--update-baselines measures the course's configuration; variants are compared, not stored")
    if suite.options.tier.name not in PERF_QUALITY_TIERS and variant != perf.BEST:
        pytest.skip(f"tier {suite.options.tier.name}: a fine-tune per variant runs in tiers {PERF_QUALITY_TIERS}; "
                    f"this tier checks the best variant ({perf.BEST}) only")
    _skip_unsupported(suite, variant)
    config = suite.perf_config(variant, seed, device="auto")
    benchmark.group = f"quality of performance variants {suite.options.model} {suite.options.epochs} epoch(s)"
    result = benchmark.pedantic(fine_tune, args=(config, suite.prepared()), kwargs={"verbose": 0},
                                rounds=1, iterations=1)
    benchmark.extra_info.update({"model": suite.options.model, "task": config.task,
                                 "device": device_label(config.device), "batch_size": config.batch_size,
                                 "variant": variant, "seed": seed, "epochs": config.epochs,
                                 "loss": config.loss, "optimizer": config.optimizer, "tier": suite.options.tier.name,
                                 "variant_accuracy": result.accuracy, "variant_f1": result.f1,
                                 "num_eval_examples": result.num_eval_examples,
                                 "majority_accuracy": result.majority_accuracy,
                                 "collapsed": result.collapsed, "step_time_ms": result.step_time["median_ms"],
                                 "examples_per_s": result.examples_per_s,
                                 "steps_timed": result.step_time["steps_kept"]})
    assert not result.collapsed, f"{variant} collapsed to {result.collapsed}: constant prediction"
    failures = []
    for name in ("accuracy", "f1"):
        passed, message = suite.compare(request.node.nodeid, name, getattr(result, name), suite.quality_key(*WINNER),
                                        resolution=1 / result.num_eval_examples, limits=baselines.SCORE_RANGE)
        if passed is False:
            failures.append(f"{variant}: {message}")
    assert not failures, "; ".join(failures)
