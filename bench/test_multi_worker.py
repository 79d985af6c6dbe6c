"""Several workers fine-tuning as one (--distribute multi-worker: tf-keras' MultiWorkerMirroredStrategy, Keras 3's
DataParallel over jax.distributed), run under the launcher or a cluster scheduler:

    python -m bench.launch --workers 2 -- python3 dev.py bench bench/test_multi_worker.py --benchmark-json mw.json

Every worker runs this same session; only these tests run there (bench/conftest.py deselects the others), and the
chief alone writes the JSON and the night. The global batch is the recipe's 8, each of W workers stepping on
8 / W rows of it, so the schedule's steps do not depend on W. In one process these skip, naming the command.
"""

import pytest

import finetune  # noqa: F401
from bench.session import multi_worker
from bench.session import recording
from bench.session.gating import in_the_fix_band, must_learn
from bench.session.tiers import QUALITY_BATCH_SIZE

pytestmark = pytest.mark.multi_worker


def _skip(suite):
    if multi_worker.skip(suite):
        pytest.skip(multi_worker.skip(suite))


def test_multi_worker_step_time(benchmark, suite, seed):
    """The course's step on every worker over the tier's first batches (each worker its part of every global
    batch), timed in whole passes after an untimed one; then, on the chief, the same global batches in its one
    process (the scaling reference) and one all-reduce of every gradient, timed alone. Where the workers share
    one host's cores no speed is claimed: the record names the overhead."""
    _skip(suite)
    tier, world = suite.options.tier, suite.world
    marker = multi_worker.turn_marker(world)
    if world.chief:
        marker.unlink(missing_ok=True)  # before the passes' collectives: the others look for it only after them
    rows = suite.first_rows(tier.step_batches * QUALITY_BATCH_SIZE)
    bench = suite.bench(multi_worker.config(suite, seed), rows, tier.step_batches)
    try:
        bench.timed_pass()  # tracing, and the collectives' set-up
        benchmark.group = f"multi-worker step time {suite.options.model} global batch {QUALITY_BATCH_SIZE}"
        benchmark.pedantic(suite.timed(bench), rounds=tier.step_passes, iterations=1)
        allreduce = bench.allreduce_ms()
    finally:
        bench.close()
    step_ms = bench.ms_per_step(benchmark.stats.stats.data)
    single_ms = None
    if world.chief:  # on one host the others sleep meanwhile (multi_worker.turn_marker), sharing no core
        single = suite.bench(multi_worker.single_config(suite, seed), rows, tier.step_batches)
        try:
            single.timed_pass()
            single_ms = single.ms_per_step([single.timed_pass() for _ in range(tier.step_passes)])
        finally:
            single.close()
            marker.touch()
        assert single.rows == bench.rows * world.workers, "one process and the workers timed other rows"
    elif world.hosts == 1:  # the others' hosts unknown (None) or several: no core is shared with the chief
        multi_worker.wait_for_the_chief(marker)
    record = recording.multi_worker_step_time(suite.context, world, bench, step_ms, tier.step_passes * len(bench.batches),
                                            single_ms, allreduce, benchmark.stats.stats.data)
    benchmark.extra_info.update(record.to_extra_info())
    assert bench.rows * world.workers == len(rows.tokenized["train"]), (
        f"worker {world.index} stepped on {bench.rows} rows, not its part of {len(rows.tokenized['train'])}")
    assert record.replicas_per_worker >= 1 and record.workers == world.workers
    if record.speed_claim:
        single = "(timed on the chief)" if single_ms is None else f"{single_ms:.0f} ms"
        pytest.skip(f"multi-worker step time {step_ms:.0f} ms, one process {single} at the same global batch: "
                    f"{record.speed_claim}")


def test_multi_worker_quality(benchmark, suite, seed, request):
    """The course's fix fine-tuned by every worker learns (a pretrained model: bench.session.gating.must_learn), and
    lands in the one-process fix's band (the baseline's, where this machine has one)."""
    _skip(suite)
    benchmark.group = f"quality on several workers {suite.options.model} {suite.options.epochs} epoch(s)"
    result = benchmark.pedantic(multi_worker.quality, args=(suite, seed), rounds=1, iterations=1)
    benchmark.extra_info.update(suite.multi_worker_quality_record(suite.world, result).to_extra_info())
    in_the_fix_band(benchmark, suite, request.node.nodeid, result, f"{suite.world.workers} workers",
                    must_learn=must_learn(suite))
