"""Step time: whole passes over prepared batches (the mean step, as an epoch counts it), per device and batch size.

    pytest bench/test_step_time.py --benchmark-json=steps.json [--device gpu]
"""

import pytest

import finetune  # noqa: F401
from bench.gate import gate_of, skip_if_ungated
from finetune import environment
from finetune.steptime import StepBench

DEVICES = ("cpu", "gpu")


def _skip_unavailable(suite, device):
    if suite.options.device not in (None, device):
        pytest.skip(f"--device {suite.options.device} was asked for")
    if device == "gpu" and not environment.gpu_names():
        pytest.skip("TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') is empty); "
                    "on a GPU runner install the [gpu] extra: FINETUNE_EXTRAS=report,gpu python3 dev.py bench")


@pytest.mark.parametrize("device", DEVICES)
def test_step_time(benchmark, suite, device, batch_size, seed, request):
    _skip_unavailable(suite, device)
    tier = suite.options.tier
    bench = StepBench(suite.run_config(seed=seed, batch_size=batch_size, device=device), suite.prepared(),
                      tier.step_batches)
    benchmark.group = f"step time {suite.options.model} batch {batch_size}"
    # Whole passes over the prepared batches (blocks), after one untimed pass: tracing, retracing and per-shape
    # kernel set-up. The figure is the mean pass / batches: every step counts, as in an epoch of fit().
    timed = suite.timed(bench)
    benchmark.pedantic(timed, rounds=tier.step_passes, iterations=1, warmup_rounds=1)
    passes = list(benchmark.stats.stats.data)
    step_time_ms = bench.ms_per_step(passes)
    record = suite.step_record(bench, step_time_ms, tier.step_passes * len(bench.batches), passes)
    benchmark.extra_info.update(record.to_extra_info())

    def retime() -> list:  # only when the first passes look slower: the same batches, timed again (ms/step each)
        again = [bench.ms_per_step([timed()]) for _ in range(tier.step_passes)]
        benchmark.extra_info["confirm_step_time_ms"] = sum(again) / len(again)
        return again

    passed, message, statistics = suite.compare_step(request.node.nodeid, record.blocks_ms,
                                                     suite.step_key(device, batch_size), confirm=retime)
    benchmark.extra_info["gate"] = gate_of([("step_time_ms", (passed, message))])
    benchmark.extra_info["gate_test"] = statistics
    assert passed is not False, message
    skip_if_ungated(benchmark.extra_info["gate"])
