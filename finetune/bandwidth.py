"""The host's memory bandwidth, as a STREAM triad measures it (a = b + s x c over arrays far larger than the caches),
on as many threads as the step has cores: the floor of a memory-bound computation such as the optimizer's update,
as the calibration matmul is the ceiling of the matmuls (finetune/calibration.py).

    bandwidth.triad()   # {"triad_gbps": 21.3, "threads": 2, "mib": 256}

numpy's ufuncs release the GIL on large arrays, so each thread runs its slice of the arrays at once. numpy has no fused
triad, so it runs as two passes (a = 3c, then a += b): 5 arrays of 8-byte floats moved per element, counted as
STREAM counts (a write-allocate's extra read not counted). The best of BLOCKS timed blocks after an untimed one, as the calibration does.

The optimizer's floor: dense Adam reads the weight, its gradient and two moments and writes three back, 7 float32
arrays of the weights' size, ADAM_BYTES_PER_WEIGHT = 28 bytes a weight (finetune/adam.py).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

# each of the three arrays: 192 MiB in all, 6x a 2-core slice's last-level cache (an EPYC CCD's 32 MB); measured on
# the AVX512_BF16 EPYC: 39.6 GB/s in 0.08 s, against 40.4 GB/s in 1.9 s at 256 MiB (every bench session pays it)
MIB = 64
BLOCKS = 5
ADAM_BYTES_PER_WEIGHT = 28  # read w, g, m, v; write w, m, v: 7 x 4 bytes


def threads_here() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def triad(mib: int = MIB, threads: int | None = None) -> dict:
    """GB/s (1e9 bytes) of a = b + s x c, each array `mib` MiB of float64, split over `threads` threads."""
    import numpy as np

    threads = threads or threads_here()
    n = mib * 2**20 // 8
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    bounds = [(i * n // threads, (i + 1) * n // threads) for i in range(threads)]

    def part(bound):
        lo, hi = bound
        np.multiply(c[lo:hi], 3.0, out=a[lo:hi])
        np.add(a[lo:hi], b[lo:hi], out=a[lo:hi])

    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for index in range(BLOCKS + 1):  # block 0 untimed: page faults of the first touch
            started = time.perf_counter()
            list(pool.map(part, bounds))
            if index:
                best = min(best, time.perf_counter() - started)
    if not np.all(a[:: max(1, n // 1000)] == 7.0):
        raise RuntimeError("the triad computed something else than 1 + 3 x 2")
    moved = 5 * n * 8  # two passes: a = 3c reads c and writes a; a += b reads a and b and writes a
    return {"triad_gbps": round(moved / best / 1e9, 1), "threads": threads, "mib": mib}


def floor_ms(bytes_per_step: float, gbps: float) -> float:
    """The time `bytes_per_step` takes at `gbps` (1e9 bytes/s): a memory-bound step's floor."""
    return 1e3 * bytes_per_step / (gbps * 1e9)
