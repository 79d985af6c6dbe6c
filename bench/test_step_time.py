"""Step time: steady-state training steps on prepared batches, per device and batch size.

    pytest bench/test_step_time.py --benchmark-json=steps.json [--device gpu]
"""

import pytest

import finetune  # noqa: F401
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
    steps = suite.options.tier.timed_steps
    bench = StepBench(suite.run_config(seed=seed, batch_size=batch_size, device=device), suite.prepared(), steps)
    benchmark.group = f"step time {suite.options.model} batch {batch_size}"
    # One untimed pass over the batches first: tracing, retracing and per-shape kernel set-up.
    benchmark.pedantic(bench.step, rounds=steps, iterations=1, warmup_rounds=steps)
    step_time_ms = 1000.0 * benchmark.stats.stats.median
    info = suite.step_info(device, batch_size, seed, step_time_ms, steps, bench.rates(step_time_ms))
    benchmark.extra_info.update(info)

    def retime() -> float:  # only when the first figure is above the band: the same batches, timed again
        benchmark.extra_info["confirm_step_time_ms"] = bench.median_step_ms(steps)
        return benchmark.extra_info["confirm_step_time_ms"]

    passed, message = suite.compare(request.node.nodeid, "step_time_ms", step_time_ms,
                                    suite.step_key(device, batch_size), confirm=retime)
    assert passed is not False, message
