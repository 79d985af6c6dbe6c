"""Calibration: a short fixed workload timed at the start of a session, so that figures from different days on
the same fingerprint can be told apart from a noisy or throttled host, and so that CPU rows get a measured peak.

The workload is a dense square matmul through the engine's array library (TensorFlow, JAX or torch: BLOCKS_OF) on
the run's device: float32 always, and bfloat16 (CPU
with native bf16, GPU of compute capability 8.0+) or float16 (GPU of 7.0+) where the host supports it. Its
throughput is the best of a few timed blocks after an untimed one (a block: `REPEATS` matmuls, each result's first element read back
so the work has finished), which is the figure a stall can only lower, never raise.

    from finetune import calibration
    calibration.measure("cpu")   # {"fp32_gflops": 112.4, "bf16_gflops": 401.0, "size": 1024, "triad_gbps": 21.3, ...}

On CPUs it also measures the memory's bandwidth (finetune/bandwidth.py, a STREAM triad on the step's cores): the
floor of the optimizer's update, which moves every weight, its gradient and two moments each step.
"""

from __future__ import annotations

import time

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from finetune.hardware import Host

SIZE = {"cpu": 1024, "gpu": 8192}  # n of the n x n x n matmul: ~2 GFLOP on CPU, ~1.1 TFLOP on GPU
REPEATS = 8
BLOCKS = 5
DRIFT = 0.20  # a calibration this far (either way) from the baseline's, on the same fingerprint: warn
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
PRECISION_OF = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def _tensorflow_block(device_kind: str, dtype: str, n: int):
    import tensorflow as tf

    device = tf.config.list_logical_devices(device_kind.upper())[0].name
    with tf.device(device):
        a = tf.cast(tf.random.stateless_normal((n, n), seed=(1, 2), dtype=tf.float32), dtype)
        b = tf.cast(tf.random.stateless_normal((n, n), seed=(3, 4), dtype=tf.float32), dtype)
    matmul = tf.function(lambda x, y: tf.matmul(x, y))

    def block():
        with tf.device(device):
            for _ in range(REPEATS):
                out = matmul(a, b)
            float(out[0, 0])  # waits for the last one (ops on one device run in order)

    return block


def _jax_block(device_kind: str, dtype: str, n: int):
    import jax
    import jax.numpy as jnp

    device = jax.devices("gpu" if device_kind == "gpu" else "cpu")[0]
    first, second = jax.random.split(jax.random.PRNGKey(1))
    a = jax.device_put(jax.random.normal(first, (n, n), jnp.float32).astype(dtype), device)
    b = jax.device_put(jax.random.normal(second, (n, n), jnp.float32).astype(dtype), device)
    matmul = jax.jit(jnp.matmul)

    def block():
        for _ in range(REPEATS):
            out = matmul(a, b)
        out.block_until_ready()

    return block


def _torch_block(device_kind: str, dtype: str, n: int):
    import torch

    device = torch.device("cuda" if device_kind == "gpu" else "cpu")
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(n, n, generator=generator).to(device=device, dtype=getattr(torch, dtype))
    b = torch.randn(n, n, generator=generator).to(device=device, dtype=getattr(torch, dtype))

    def block():
        with torch.no_grad():
            for _ in range(REPEATS):
                out = a @ b
            float(out[0, 0])  # waits for the device

    return block


def _numpy_block(device_kind: str, dtype: str, n: int):
    import numpy as np

    if device_kind != "cpu" or dtype != "float32":
        return None  # numpy has no other device, and no native bfloat16 or float16 matmul
    generator = np.random.default_rng(1)
    a, b = (generator.standard_normal((n, n), dtype=np.float32) for _ in range(2))

    def block():
        for _ in range(REPEATS):
            a @ b

    return block


# the array library's matmul: a block of REPEATS of them, finished when it returns (None: not native there)
BLOCKS_OF = {"tensorflow": _tensorflow_block, "jax": _jax_block, "torch": _torch_block, "numpy": _numpy_block}


def _gflops(block, n: int) -> float:
    best = float("inf")
    for index in range(BLOCKS + 1):  # block 0 is untimed: tracing, kernel set-up, the cores' clocks
        started = time.perf_counter()
        block()
        if index:
            best = min(best, time.perf_counter() - started)
    return REPEATS * 2.0 * n**3 / best / 1e9


def measure(device_kind: str = "cpu", host: Host | None = None, backend: str = "tensorflow") -> dict:
    """GFLOP/s of the calibration matmul per precision the host runs natively on `device_kind`, through `backend`'s
    arrays (the engine's: finetune.engines.Engine.array_backend)."""
    host = host or Host.here()
    n = SIZE[device_kind]
    started = time.perf_counter()
    found = {"device": device_kind, "size": n, "repeats": REPEATS, "blocks": BLOCKS}
    if backend != "tensorflow":  # the records before other backends: TensorFlow's
        found["backend"] = backend
    for short, dtype in DTYPES.items():
        block = None
        if host.unsupported_precision(PRECISION_OF[short], device_kind) is None:
            block = BLOCKS_OF[backend](device_kind, dtype, n)
        if block is not None:
            found[f"{short}_gflops"] = round(_gflops(block, n), 1)
    if device_kind == "cpu":  # the memory's rate beside the matmuls': the floor of the optimizer's update
        from finetune import bandwidth

        found.update(bandwidth.triad())
    found["seconds"] = round(time.perf_counter() - started, 2)
    return found


def peak_gflops(calibration: dict | None, precision: str) -> float | None:
    """The measured peak for a row's precision ("fp32", "bf16", "fp16", "tf32" counts as fp32), or None."""
    if not calibration:
        return None
    return calibration.get(f"{'fp32' if precision == 'tf32' else precision}_gflops")


def drift(now: dict | None, then: dict | None) -> str | None:
    """A warning when this host's calibration is far from the one stored with its baseline, else None."""
    if not now or not then or not then.get("fp32_gflops") or not now.get("fp32_gflops"):
        return None
    ratio = now["fp32_gflops"] / then["fp32_gflops"]
    if abs(ratio - 1.0) <= DRIFT:
        return None
    slower = "slower" if ratio < 1 else "faster"
    return (f"calibration: this host's fp32 matmul runs at {now['fp32_gflops']:g} GFLOP/s, {ratio:.2f}x the "
            f"{then['fp32_gflops']:g} recorded with its baseline ({slower} by more than {DRIFT:.0%}): a noisy, "
            "throttled or shared host; step-time verdicts of this session are suspect")
