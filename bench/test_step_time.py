"""Step time: whole passes over prepared batches (the mean step, as an epoch counts it), per device and batch size.

    pytest bench/test_step_time.py --benchmark-json=steps.json [--device gpu]
"""

import pytest

import finetune  # noqa: F401
from bench.suite import gate_of, skip_if_ungated
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
    benchmark.pedantic(bench.timed_pass, rounds=tier.step_passes, iterations=1, warmup_rounds=1)
    passes = list(benchmark.stats.stats.data)
    step_time_ms = bench.ms_per_step(passes)
    info = suite.step_info(device, batch_size, seed, step_time_ms, tier.step_passes * len(bench.batches),
                           bench.rates(step_time_ms))
    benchmark.extra_info.update({**info, "pass_times_s": passes, "median_step_ms_of_passes":
                                 1000.0 * benchmark.stats.stats.median / len(bench.batches)})

    def retime() -> float:  # only when the first figure is above the band: the same batches, timed again
        again = [bench.timed_pass() for _ in range(tier.step_passes)]
        benchmark.extra_info["confirm_step_time_ms"] = bench.ms_per_step(again)
        return benchmark.extra_info["confirm_step_time_ms"]

    verdict = suite.compare(request.node.nodeid, "step_time_ms", step_time_ms,
                            suite.step_key(device, batch_size), confirm=retime)
    benchmark.extra_info["gate"] = gate_of([("step_time_ms", verdict)])
    assert verdict[0] is not False, verdict[1]
    skip_if_ungated(benchmark.extra_info["gate"])
