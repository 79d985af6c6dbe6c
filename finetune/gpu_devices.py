"""The GPUs of this host, as data: TensorFlow's view where it is installed, else nvidia-smi's (Keras 3 on JAX or
torch), which starts no CUDA context in this process. finetune.hardware.Host holds what `probe()` finds."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: tuple | None = None  # (major, minor)
    memory_mb: int | None = None


def probe() -> tuple:
    """(GPUs, CUDA, cuDNN): TensorFlow's view where it is installed; else nvidia-smi's (Keras 3 on JAX or torch),
    which initialises no CUDA context in this process (JAX would take 75% of each GPU's memory)."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return nvidia_smi_gpus(_nvidia_smi("--query-gpu=name,compute_cap,memory.total", "--format=csv,noheader,nounits"),
                               _nvidia_smi())
    return _tensorflow_gpus()


def nvidia_smi_gpus(table: str, banner: str) -> tuple:
    """(GPUs, "driver <its CUDA version>", None) from nvidia-smi's query table ("NVIDIA H200, 9.0, 143771") and its
    banner ("... CUDA Version: 13.0 ..."); ((), None, None) without either."""
    gpus = []
    for line in table.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 3 or not fields[0]:
            continue
        name, capability, memory = fields
        try:
            major, minor = (int(part) for part in capability.split("."))
            compute = (major, minor)
        except ValueError:
            compute = None
        try:
            memory_mb = int(float(memory))
        except ValueError:
            memory_mb = None
        gpus.append(GpuInfo(name, compute, memory_mb))
    if not gpus:
        return (), None, None
    found = re.search(r"CUDA Version:\s*([0-9.]+)", banner)
    return tuple(gpus), f"driver {found.group(1)}" if found else None, None


def _nvidia_smi(*arguments: str) -> str:
    """nvidia-smi's output, or "" where it is missing or fails."""
    if not shutil.which("nvidia-smi"):
        return ""
    try:
        return subprocess.run(["nvidia-smi", *arguments], capture_output=True, text=True, timeout=10,
                              check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _tensorflow_gpus() -> tuple:
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    devices = tf.config.list_physical_devices("GPU")
    for device in devices:  # before any GPU is initialised: else TensorFlow takes nearly all of each GPU's memory
        try:
            tf.config.experimental.set_memory_growth(device, True)
        except RuntimeError:  # already initialised by the caller's own code: their setting stands
            pass
    memory = _nvidia_smi_memory_mb() if devices else []
    gpus = []
    for index, device in enumerate(devices):
        details = tf.config.experimental.get_device_details(device)
        gpus.append(GpuInfo(details.get("device_name", device.name),
                            tuple(details["compute_capability"]) if details.get("compute_capability") else None,
                            memory[index] if index < len(memory) else None))
    if not gpus:
        return (), None, None
    return tuple(gpus), build.get("cuda_version"), build.get("cudnn_version")


def _nvidia_smi_memory_mb() -> list:
    """Each GPU's total memory in MiB; TensorFlow reports only what it has allocated."""
    out = _nvidia_smi("--query-gpu=memory.total", "--format=csv,noheader,nounits")
    try:
        return [int(float(line)) for line in out.split() if line.strip()]
    except ValueError:
        return []

