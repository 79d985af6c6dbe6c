"""Peak memory of the training process: host RSS, and TensorFlow's device memory on GPUs.

Linux keeps the process's peak resident set (VmHWM in /proc/self/status) and resets it to the current RSS when
"5" is written to /proc/self/clear_refs, so one process can measure the peak of each benchmark in turn.
Elsewhere the peak is getrusage's ru_maxrss: the whole process's, which `peak()` says (`rss_scope`).
"""

from __future__ import annotations

import resource
import sys


def reset() -> str:
    """Start a new peak window; returns "window" where the kernel allows a reset, else "process"."""
    scope = "process"
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        scope = "window"
    except OSError:
        pass
    for device in _gpus():
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats(device)
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


def _gpus() -> list:
    if "tensorflow" not in sys.modules:  # nothing ran on a GPU before TensorFlow was imported
        return []
    import tensorflow as tf

    return [device.name.replace("/physical_device:", "") for device in tf.config.list_physical_devices("GPU")]


def peak(scope: str = "window") -> dict:
    """{"peak_rss_mb", "rss_scope"} and, on GPU hosts, {"peak_gpu_memory_mb"} (the largest of the GPUs')."""
    rss = _vm_hwm_mb() if scope == "window" else None
    if rss is None:
        divisor = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS, kB on Linux
        rss, scope = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / divisor, "process"
    found = {"peak_rss_mb": round(rss, 1), "rss_scope": scope}
    gpus = _gpus()
    if gpus:
        import tensorflow as tf

        found["peak_gpu_memory_mb"] = round(max(tf.config.experimental.get_memory_info(d)["peak"] for d in gpus)
                                            / 2**20, 1)
    return found
