"""The session's multi-worker runs (bench/test_multi_worker.py): which of them run here and why not, their
configuration and the fix's fine-tune on every worker. The world is the session's (Suite.world, read once from
the environment bench.launch or a scheduler gives); the engine does the distribution (finetune/engines)."""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

from bench.session.tiers import QUALITY_BATCH_SIZE, WINNER
from finetune import FinetuneError, RunConfig, perf, runtime
from finetune.result import Result
from finetune.train import finetune

LAUNCH = "python -m bench.launch --workers 2 -- python3 dev.py bench bench/test_multi_worker.py"


def skip(suite) -> str | None:
    """Why the multi-worker benchmarks do not run in this session."""
    if not suite.world.distributed:
        return f"one process: the multi-worker benchmarks run on several workers, e.g. {LAUNCH}"
    problem = suite.engine.unsupported(perf.PerfConfig(distribute="multi-worker"))
    if problem:
        return problem
    if QUALITY_BATCH_SIZE % suite.world.workers:
        return f"{suite.world.workers} workers do not divide the recipe's global batch of {QUALITY_BATCH_SIZE}"
    return None


def config(suite, seed: int) -> RunConfig:
    """The course's fix with --distribute multi-worker, at the recipe's global batch (8: each of W workers steps on
    8 / W rows of it), on the device the session's variants run on."""
    return suite.run_config(*WINNER, seed=seed, perf=perf.PerfConfig(distribute="multi-worker"),
                            device=suite.perf_device())


def single_config(suite, seed: int) -> RunConfig:
    """The same global batch in one process, without collectives: the multi-worker step's scaling reference."""
    return suite.run_config(*WINNER, seed=seed, device=suite.perf_device())


def quality(suite, seed: int) -> Result:
    """The fix's fine-tune on every worker of the world (each worker's copy of the weights predicts; the chief's
    scores are reported)."""
    suite.skip_without_quality()
    try:
        return finetune(config(suite, seed), suite.prepared(), verbose=0, model_choice=suite.options.model_choice,
                        calibration=suite.calibration,
                        callbacks=suite.reported(("multi-worker", WINNER, seed), f"multi-worker fix, seed {seed}"))
    except FinetuneError as err:
        from bench.session.suite import fail_clearly

        fail_clearly(err)


def turn_marker(world) -> Path:
    """A file that tells a local world's other workers that the chief's one-process timing has ended. A peer
    waiting in a collective polls for it at full speed (RING over gRPC), taking a core from the chief's one
    process; waiting for this file, it sleeps."""
    name = hashlib.sha1(",".join(world.addresses).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"finetune-world-{name}-one-process-done"


def wait_for_the_chief(marker: Path, poll_s: float = 0.2) -> None:
    """Sleep until the chief has made `marker`, at most a collective's timeout (as a collective would wait)."""
    deadline = time.monotonic() + runtime.COLLECTIVE_TIMEOUT_S
    while not marker.exists():
        if time.monotonic() > deadline:
            raise FinetuneError(f"the chief did not end its one-process timing within "
                                f"{runtime.COLLECTIVE_TIMEOUT_S} s ({marker} never appeared)")
        time.sleep(poll_s)
    marker.unlink(missing_ok=True)
