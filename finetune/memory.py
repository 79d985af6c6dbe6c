"""Peak memory of the training process: host RSS, and the device memory on GPUs of the engine's array library
(TensorFlow, JAX or torch).

Linux keeps the process's peak resident set (VmHWM in /proc/self/status) and resets it to the current RSS when
"5" is written to /proc/self/clear_refs, so one process can measure the peak of each benchmark in turn.
Elsewhere the peak is getrusage's ru_maxrss: the whole process's, which `peak()` says (`rss_scope`).
TensorFlow and torch reset their GPUs' peak; JAX keeps one peak for the process (`gpu_memory_scope`: "process").
"""

from __future__ import annotations

import resource
import sys


def reset(backend: str = "tensorflow") -> str:
    """Start a new peak window; returns "window" where the kernel allows a reset, else "process"."""
    scope = "process"
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        scope = "window"
    except OSError:
        pass
    if backend == "tensorflow":
        for device in _tensorflow_gpus():
            import tensorflow as tf

            tf.config.experimental.reset_memory_stats(device)
    elif backend == "torch" and _torch_cuda():
        import torch

        torch.cuda.reset_peak_memory_stats()
    return scope


def _vm_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _tensorflow_gpus() -> list:
    if sys.modules.get("tensorflow") is None:  # nothing ran on a GPU before TensorFlow was imported (or hidden)
        return []
    import tensorflow as tf

    return [device.name.replace("/physical_device:", "") for device in tf.config.list_physical_devices("GPU")]


def _torch_cuda() -> bool:
    return sys.modules.get("torch") is not None and sys.modules["torch"].cuda.is_available()


def _jax_gpus() -> list:
    if sys.modules.get("jax") is None:
        return []
    import jax

    return [device for device in jax.devices() if device.platform == "gpu"]


def _gpu_peak(backend: str) -> tuple:
    """(the largest GPU's peak in bytes or None, its scope) of `backend`'s arrays."""
    if backend == "tensorflow":
        gpus = _tensorflow_gpus()
        if gpus:
            import tensorflow as tf

            return max(tf.config.experimental.get_memory_info(d)["peak"] for d in gpus), "window"
    elif backend == "torch" and _torch_cuda():
        import torch

        return max(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count())), "window"
    elif backend == "jax":
        peaks = [(d.memory_stats() or {}).get("peak_bytes_in_use") for d in _jax_gpus()]
        peaks = [found for found in peaks if found is not None]
        if peaks:
            return max(peaks), "process"
    return None, None


def peak(scope: str = "window", backend: str = "tensorflow") -> dict:
    """{"peak_rss_mb", "rss_scope"} and, on GPU hosts, {"peak_gpu_memory_mb"} (the largest of the GPUs'), with
    "gpu_memory_scope" where it is the whole process's (JAX)."""
    rss = _vm_hwm_mb() if scope == "window" else None
    if rss is None:
        divisor = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS, kB on Linux
        rss, scope = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / divisor, "process"
    found = {"peak_rss_mb": round(rss, 1), "rss_scope": scope}
    gpu_bytes, gpu_scope = _gpu_peak(backend)
    if gpu_bytes is not None:
        found["peak_gpu_memory_mb"] = round(gpu_bytes / 2**20, 1)
        if gpu_scope != "window":
            found["gpu_memory_scope"] = gpu_scope
    return found
