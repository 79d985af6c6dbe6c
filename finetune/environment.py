"""What this run is measured on: library versions, CPU and GPUs, and whether the Hub answers.

Probes are cached: they describe the process, and are asked once. The host itself is finetune.hardware.Host.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
from importlib import metadata
from urllib.parse import urlparse

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from finetune.hardware import Host, _slug


def versions(libraries: tuple) -> dict:
    """Python's version and each of `libraries`' (None: not installed), in that order: an engine's own list
    (finetune.engines.Engine.libraries), so that another engine's baselines do not change with them."""
    found = {"python": platform.python_version()}
    for name in libraries:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def cpu_model() -> str:
    return Host.here().cpu.model_name


def gpu_names() -> tuple:
    """Names of the GPUs TensorFlow can use (empty on CPU-only hosts)."""
    return tuple(gpu.name for gpu in Host.here().gpus)


def _kind(host: Host, device: str) -> str:
    return "gpu" if host.gpus and device != "cpu" else "cpu"


def hardware() -> dict:
    """What the figures were measured on: the old flat fields, the described host, and its fingerprints."""
    host = Host.here()
    return {
        "cpu": host.cpu.model_name,
        "cpu_count": host.cpu.cores,
        "machine": host.cpu.arch,
        "gpus": [gpu.name for gpu in host.gpus],
        "host": host.to_dict(),
        "fingerprint": {kind: host.key(kind) for kind in ("cpu", "gpu") if kind == "cpu" or host.gpus},
        "described": {kind: host.describe(kind) for kind in ("cpu", "gpu") if kind == "cpu" or host.gpus},
    }


def key_for(hardware_info: dict, device: str = "auto") -> str:
    """The fingerprint a figure belongs to (finetune.hardware), e.g. `cpu-amd-epyc-avx2-2c-3f9a1c` or
    `gpu-nvidia-h100-80gb-hbm3-x8-7d01e2`. Files from before fingerprints (no `host`) keep their old slug,
    e.g. `cpu-amd-epyc-2c`, which no fingerprint equals: they are never a gate for a described host."""
    if "host" in hardware_info:
        host = Host.from_dict(hardware_info["host"])
        return host.key(_kind(host, device))
    gpus = hardware_info["gpus"]
    if gpus and device != "cpu":
        return f"gpu-{_slug(gpus[0])}-x{len(gpus)}"
    return f"cpu-{_slug(hardware_info['cpu'])}-{hardware_info['cpu_count']}c"


def hardware_key(device: str = "auto") -> str:
    host = Host.here()
    return host.key(_kind(host, device))


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
