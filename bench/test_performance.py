"""Speed: the variants of finetune/perf.py (padding, XLA, precision, MirroredStrategy), and the claim that the
best of them for this host (perf.BEST_BY_HOST) fine-tunes in at most its target fraction of the course's time
without losing quality (its quality is checked in every tier, every other variant's in the full tier).

    pytest bench/test_performance.py --benchmark-json=perf.json [--tier ci] [-k faster_than_the_course]

Every variant's step time is timed on the same examples: `variant_batches` x 8 training rows whose lengths follow
the task's (finetune.steptime.length_sample, not the first rows: padding and bucketing pay by length), all of them
batched (bucketing regroups them into as many batches), in whole passes after one untimed pass (tracing, and an
XLA compile per shape). "Faster than the course" compares whole fine-tunes instead, by fit()'s wall
time over every epoch: compiles and retraces included, as a user waits for them. Each benchmark writes one
record of bench.store.contract (its `kind` tells readers what it measured).
"""

import pytest

import finetune  # noqa: F401
from bench.session import recording
from bench.session.gating import in_the_fix_band, must_learn, random_weights_skip
from bench.session.tiers import QUALITY_BATCH_SIZE, SCALING_ROUNDS, WINNER
from bench.judge import learning
from finetune import metrics
from finetune.perf import VARIANTS
from finetune.steptime import interleaved_passes

NUMERIC_VARIANTS = [name for name, variant in VARIANTS.items() if variant.changes_numerics]


def _skip_unsupported(suite, name):
    if suite.variant_skip(name):
        pytest.skip(suite.variant_skip(name))


def _bench(suite, name, seed, batches, batch_size=QUALITY_BATCH_SIZE):
    config = suite.perf_config(name, seed, batch_size=batch_size)
    return suite.bench(config, suite.length_sample(batches * batch_size), batches)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_step_time(benchmark, suite, variant, seed, variant_batch):
    if suite.variant_step_skip(variant):
        pytest.skip(suite.variant_step_skip(variant))
    tier = suite.options.tier
    bench = _bench(suite, variant, seed, tier.variant_batches, batch_size=variant_batch)
    try:
        bench.timed_pass()  # warm-up over every batch, so every shape is traced and compiled before timing
        traced = bench.traces()
        benchmark.group = f"performance variants {suite.options.model} batch {variant_batch}"
        benchmark.pedantic(suite.timed(bench), rounds=tier.variant_passes, iterations=1)
        profiled = suite.profile(bench) if suite.options.profile else None  # after timing: never in the figure
    finally:
        bench.close()
    step_time_ms = bench.ms_per_step(benchmark.stats.stats.data)
    record = recording.variant_step_time(suite.context, variant, bench, step_time_ms, tier.variant_passes * len(bench.batches),
                                       pass_times_s=list(benchmark.stats.stats.data), profile=profiled)
    benchmark.extra_info.update(record.to_extra_info())
    assert bench.rows == tier.variant_batches * variant_batch, "not the same examples as the other variants"
    assert bench.traces() == traced, f"retraced while timed ({traced} -> {bench.traces()}): the warm-up missed a shape"


def test_faster_than_the_course(benchmark, suite, seed, request):
    """The best variant for this host against the course, as two whole fine-tunes of the tier's length (shared
    with test_quality and test_variant_quality: each runs once per session). The target is the stored tuned
    choice's (its interval's upper end, finetune.tuned_choice.claim, projected to this tier's fine-tune:
    bench.judge.ranking.claim_at), else BEST_BY_HOST's; where there is none, the quality half is asserted and the
    speed half is a skip that says why."""
    choice = suite.best_choice()
    _skip_unsupported(suite, "best")
    if suite.best_fine_tune_skip():
        pytest.skip(suite.best_fine_tune_skip())
    benchmark.group = f"faster than the course {suite.options.model}"
    course, best = benchmark.pedantic(lambda: (suite.quality(*WINNER, seed), suite.variant_quality("best", seed)),
                                      rounds=1, iterations=1)
    record = suite.faster_record(course, best, choice.variant, choice.target)
    benchmark.extra_info.update(record.to_extra_info())
    assert best.num_train_examples == course.num_train_examples and best.num_train_steps == course.num_train_steps
    random_weights_skip(suite, f"best ({choice.variant})", best)
    learned = learning.learned(*learning.state(best))
    suite.figures_judged.append((request.node.nodeid, "learned", learned, ""))  # live even if the speed half skips
    assert learned, (
        f"best ({choice.variant}) did not learn: {metrics.scores_text(best.scores, best.accuracy, best.f1)} "
        f"[{learning.verdict(*learning.state(best))}]")
    ratio = record.step_time_ms / record.course_step_time_ms
    if choice.target is not None:  # the speed half, named in the session's gate line beside "learned"
        suite.figures_judged.append((request.node.nodeid, f"speed claim {ratio:.3f}x <= {choice.target}x",
                                     ratio <= choice.target, ""))
    if choice.target is None:
        pytest.skip(f"no speed claim for {choice.needs}: {choice.evidence}; measured here {ratio:.2f}x the course's "
                    f"time ({record.step_time_ms:.0f} against {record.course_step_time_ms:.0f} ms/step)")
    assert ratio <= choice.target, (
        f"best ({choice.variant}) took {record.step_time_ms:.1f} ms/step over whole epochs, {ratio:.2f}x the "
        f"course's {record.course_step_time_ms:.1f}, not <= {choice.target}x (compile {record.compile_s:.1f} s "
        f"against {record.course_compile_s:.1f} s; median step {record.median_step_ms:.0f} against "
        f"{record.course_median_step_ms:.0f} ms); the target's evidence: {choice.evidence}")


def test_mirrored_scaling(benchmark, suite, seed):
    """Weak scaling: the course's 8 rows per replica, so the global batch is 8 x replicas."""
    replicas = suite.scaling_replicas()
    if replicas < 2:
        pytest.skip(f"{suite.options.engine_name} sees one {suite.perf_device()} device: scaling needs two or more "
                    "(GPUs; logical CPUs must be made before TensorFlow starts, see tests/test_distribute.py)")
    batches = suite.options.tier.variant_batches
    # The same rows for both: R x as many batches of 8 on one device as the mirrored run has batches of 8 x R.
    single = _bench(suite, "course", seed, batches * replicas)
    mirrored = _bench(suite, "mirrored", seed, batches, batch_size=QUALITY_BATCH_SIZE * replicas)
    benchmark.group = f"mirrored scaling {suite.options.model}"
    try:
        passes = benchmark.pedantic(interleaved_passes, args=({"single": single, "mirrored": mirrored},
                                                              SCALING_ROUNDS), rounds=1, iterations=1)
    finally:
        single.close()
        mirrored.close()
    record = recording.scaling(suite.context, single, mirrored, passes)
    benchmark.extra_info.update(record.to_extra_info())
    assert mirrored.replicas == replicas and record.per_replica_batch == QUALITY_BATCH_SIZE
    assert single.rows == mirrored.rows, "the single-device and mirrored passes must cover the same rows"
    # At or below 1/replicas the replicas add nothing: e.g. all of them placed on one device.
    assert record.scaling_efficiency > 1.0 / replicas, f"scaling efficiency {record.scaling_efficiency:.2f}"


@pytest.mark.parametrize("variant", NUMERIC_VARIANTS)
def test_variant_quality(benchmark, suite, variant, seed, request):
    """A variant that changes the arithmetic or the batches must learn, and land in the course's own band."""
    if suite.variant_quality_skip(variant):
        pytest.skip(suite.variant_quality_skip(variant))
    benchmark.group = f"quality of performance variants {suite.options.model} {suite.options.epochs} epoch(s)"
    result = benchmark.pedantic(suite.variant_quality, args=(variant, seed), rounds=1, iterations=1)
    benchmark.extra_info.update(recording.variant_quality(suite.context, variant, result).to_extra_info())
    in_the_fix_band(benchmark, suite, request.node.nodeid, result, variant, must_learn=must_learn(suite))
