"""Step time: whole passes over prepared batches (the mean step, as an epoch counts it), per device and batch size,
timed in several processes (bench.timing.processes) whose passes are interleaved.

    pytest bench/test_step_time.py --benchmark-json=steps.json [--device gpu]
"""

import itertools

import pytest

import finetune  # noqa: F401
from bench.session.gating import gate_of, skip_if_ungated

DEVICES = ("cpu", "gpu")


@pytest.mark.parametrize("device", DEVICES)
def test_step_time(benchmark, suite, device, batch_size, seed, request):
    if suite.step_skip(device):
        pytest.skip(suite.step_skip(device))
    tier = suite.options.tier
    config = suite.run_config(seed=seed, batch_size=batch_size, device=device)
    benchmark.group = f"step time {suite.options.model} batch {batch_size}"
    # tier.step_processes processes, each preparing the first tier.step_batches batches and warming up on one
    # untimed pass (tracing, per-shape kernel set-up); then whole passes (blocks), process after process, round by
    # round. A pass's figure is its time / batches: every step counts, as in an epoch of fit().
    # With --reference, as many processes of that revision, one of their passes beside each of these (ABBA:
    # bench/timing/reference_revision.py), run in pytest-benchmark's untimed setup: the record gets the ratio to them.
    rounds = tier.step_processes * tier.step_passes
    with suite.step_processes(config, tier.step_batches, tier.step_processes) as processes, \
            suite.reference_processes(config, tier.step_batches, tier.step_processes) as reference:
        order = itertools.count()
        benchmark.pedantic(processes.timed_pass, rounds=rounds, iterations=1,
                           setup=None if reference is None else lambda: reference.before(next(order)))
        blocks_ms = processes.blocks_ms()
        if reference is not None:
            reference.finish(rounds)
        record = suite.step_record(config, processes.described, blocks_ms, list(benchmark.stats.stats.data),
                                   None if reference is None else reference.record(blocks_ms))
        benchmark.extra_info.update(record.to_extra_info())
        # the timed step's peak memory, from the timing processes (bench/conftest.py's is this pytest process's)
        benchmark.extra_info.update(processes.peak_memory())

        def retime() -> list:  # only when the first session looks slower: as many passes again, same processes
            mark = processes.timed()
            for _ in range(tier.step_processes * tier.step_passes):
                processes.timed_pass()
            again = processes.blocks_ms(since=mark)
            benchmark.extra_info["confirm_step_time_ms"] = sum(map(sum, again)) / sum(map(len, again))
            return again

        passed, message, statistics = suite.compare_step(request.node.nodeid, blocks_ms,
                                                         suite.step_key(device, batch_size), confirm=retime)
    benchmark.extra_info["gate"] = gate_of([("step_time_ms", (passed, message))])
    benchmark.extra_info["gate_test"] = statistics
    assert passed is not False, message
    skip_if_ungated(benchmark.extra_info["gate"])
