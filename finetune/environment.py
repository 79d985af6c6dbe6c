"""What this run is measured on: library versions, CPU and GPUs, and whether the Hub answers.

Probes are cached: they describe the process, and are asked once.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import socket
from importlib import metadata
from urllib.parse import urlparse

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

LIBRARIES = ("tensorflow", "tf_keras", "transformers", "datasets", "evaluate", "numpy", "pytest-benchmark")


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def gpu_names() -> tuple:
    """Names of the GPUs TensorFlow can use (empty on CPU-only hosts)."""
    import tensorflow as tf

    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name", device.name))
    return tuple(names)


def hardware() -> dict:
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "gpus": list(gpu_names()),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def key_for(hardware_info: dict, device: str = "auto") -> str:
    """Names the hardware a figure belongs to, e.g. `cpu-amd-epyc-2c` or `gpu-nvidia-h100-80gb-hbm3-x8`."""
    gpus = hardware_info["gpus"]
    if gpus and device != "cpu":
        return f"gpu-{_slug(gpus[0])}-x{len(gpus)}"
    return f"cpu-{_slug(hardware_info['cpu'])}-{hardware_info['cpu_count']}c"


def hardware_key(device: str = "auto") -> str:
    return key_for(hardware(), device)


@functools.cache
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """True when the Hugging Face Hub answers a TCP connect; offline this is quick, never a long wait."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout_s):
            return True
    except OSError:
        return False
