"""The host as a description: what step time depends on, parsed from plain text so that every decision taken
from it (which precisions run natively, which variant is the best here, which baseline is ours) is a function
of a described capability, and tests can pass in an AVX2-only CPU, an AVX512_BF16 or AMX CPU, an Arm CPU or a
GPU host without owning one.

    Host.here()                       # this machine: /proc/cpuinfo, ONEDNN_MAX_CPU_ISA, affinity, memory, GPUs
    Host(cpu=CpuInfo.parse(text, ...)) # a described one

The fingerprint (`Host.key(device)`) is a readable slug plus a short hash of everything in it that changes
step time: CPU vendor, model name, family/model/stepping, the instruction-set features the kernels use and the
usable cores; for GPU runs the GPU names, count, memory, compute capability and TensorFlow's CUDA and cuDNN
build. Two hosts that print the same "AMD EPYC" model name but differ in AVX-512 get different keys.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
from dataclasses import asdict, dataclass

from finetune.errors import FinetuneError
from finetune.gpu_devices import GpuInfo, probe

# Instruction-set features the matmul kernels (oneDNN, Eigen, XLA:CPU) dispatch on; the rest of the flags
# line (hundreds of them, some that differ between hypervisors) is left out of the fingerprint.
KERNEL_FEATURES = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",  # x86_64
    "asimd", "asimdhp", "sve", "sve2", "bf16", "i8mm", "svebf16",  # aarch64 (/proc/cpuinfo "Features")
)
BF16_CPU_FEATURES = ("avx512_bf16", "amx_bf16", "bf16", "svebf16")  # native bfloat16 dot products
BF16_GPU_CAPABILITY = (8, 0)  # Ampere: bfloat16 tensor cores
TF32_GPU_CAPABILITY = (8, 0)  # Ampere: TF32 tensor cores (V100 7.0 and T4 7.5 have none)
FP16_GPU_CAPABILITY = (7, 0)  # Volta: float16 tensor cores
# oneDNN's dispatcher cap (environment variable ONEDNN_MAX_CPU_ISA): the kernel features each level may use,
# cumulatively. A capped host runs other kernels, so it is another fingerprint (and, capped at AVX2, a way to
# reproduce an AVX2-only CPU's choices on a newer one).
ONEDNN_ISA_LEVELS = (
    ("SSE41", ()), ("AVX", ("avx",)), ("AVX2", ("avx2", "fma", "f16c")), ("AVX2_VNNI", ()), ("AVX2_VNNI_2", ()),
    ("AVX512_CORE", ("avx512f", "avx512bw", "avx512vl")), ("AVX512_CORE_VNNI", ("avx512_vnni",)),
    ("AVX512_CORE_BF16", ("avx512_bf16",)), ("AVX512_CORE_FP16", ("avx512_fp16",)), ("AVX10_1_512", ()),
    ("AVX512_CORE_AMX", ("amx_tile", "amx_bf16", "amx_int8")), ("AVX10_1_512_AMX", ()),
    ("AVX512_CORE_AMX_FP16", ("amx_fp16",)), ("AVX10_1_512_AMX_FP16", ()),
)
ARM_IMPLEMENTERS = {"0x41": "ARM", "0x61": "Apple", "0xc0": "Ampere", "0x48": "HiSilicon", "0x46": "Fujitsu"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def allowed_under(isa_cap: str | None, arch: str = "x86_64") -> frozenset:
    """The KERNEL_FEATURES that oneDNN may use under ONEDNN_MAX_CPU_ISA=`isa_cap` (x86 only; None or DEFAULT: all).
    An unknown level is refused with the levels that exist, as oneDNN itself ignores it silently."""
    if not isa_cap or isa_cap.upper() == "DEFAULT" or not arch.startswith(("x86", "amd64", "AMD64")):
        return frozenset(KERNEL_FEATURES)
    names = [name for name, _ in ONEDNN_ISA_LEVELS]
    if isa_cap.upper() not in names:
        raise FinetuneError(f"ONEDNN_MAX_CPU_ISA={isa_cap} is not a oneDNN level: use one of {', '.join(names)} "
                         "or DEFAULT, or unset it")
    allowed = [f for _, added in ONEDNN_ISA_LEVELS[:names.index(isa_cap.upper()) + 1] for f in added]
    return frozenset(allowed)


@dataclass(frozen=True)
class CpuInfo:
    model_name: str
    vendor: str = ""  # GenuineIntel, AuthenticAMD, or the Arm implementer
    arch: str = "x86_64"
    family: str | None = None
    model: str | None = None
    stepping: str | None = None
    features: tuple = ()  # the KERNEL_FEATURES this CPU has, in the table's order
    cores: int = 1  # usable by this process (CPU affinity), not the host's count
    memory_gb: float | None = None
    isa_cap: str | None = None  # ONEDNN_MAX_CPU_ISA, when set: the features above it are left out

    @classmethod
    def parse(cls, cpuinfo: str, arch: str = "x86_64", cores: int = 1, memory_gb: float | None = None,
              isa_cap: str | None = None) -> "CpuInfo":
        """From the text of /proc/cpuinfo (its first processor block; x86 `flags` or Arm `Features`), with the
        features that oneDNN may not use under `isa_cap` (ONEDNN_MAX_CPU_ISA) left out."""
        fields: dict = {}
        for line in cpuinfo.splitlines():
            if not line.strip():
                if fields:
                    break
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name.strip().lower(), value.strip())
        flags = set((fields.get("flags") or fields.get("features") or "").split())
        vendor = fields.get("vendor_id") or ARM_IMPLEMENTERS.get(fields.get("cpu implementer", ""), "")
        model_name = fields.get("model name") or (f"{vendor} part {fields['cpu part']}" if "cpu part" in fields
                                                  else platform.processor() or arch)
        return cls(
            model_name=model_name, vendor=vendor, arch=arch,
            family=fields.get("cpu family") or fields.get("cpu architecture"),
            model=fields.get("model") or fields.get("cpu part"),
            stepping=fields.get("stepping") or fields.get("cpu variant"),
            features=tuple(f for f in KERNEL_FEATURES if f in flags and f in allowed_under(isa_cap, arch)),
            cores=cores, memory_gb=memory_gb, isa_cap=isa_cap.upper() if isa_cap else None,
        )

    @property
    def has_bf16(self) -> bool:
        return bool(set(self.features) & set(BF16_CPU_FEATURES))

    def isa(self) -> str:
        """The widest vector/matrix level in a word, for slugs and tables: amx, avx512bf16, avx512, avx2, ..."""
        for name, needs in (("amx", "amx_bf16"), ("avx512bf16", "avx512_bf16"), ("avx512", "avx512f"),
                            ("avx2", "avx2"), ("sve-bf16", "svebf16"), ("sve", "sve"), ("neon-bf16", "bf16"),
                            ("neon", "asimd")):
            if needs in self.features:
                return name
        return "baseline"


@dataclass(frozen=True)
class Host:
    cpu: CpuInfo
    gpus: tuple = ()  # GpuInfo, one per GPU TensorFlow can use (nvidia-smi's where TensorFlow is not installed)
    cuda: str | None = None  # TensorFlow's build (tf.sysconfig.get_build_info); else the driver's, "driver 13.0"
    cudnn: str | None = None

    # --- capabilities --------------------------------------------------------------------------------
    def min_capability(self) -> tuple:
        found = [g.compute_capability or (0, 0) for g in self.gpus]
        return min(found) if found else (0, 0)

    def unsupported_precision(self, precision: str, device_kind: str) -> str | None:
        """Why `precision` cannot run natively on `device_kind` ("cpu" or "gpu") of this host, or None."""
        if precision == "float32":
            return None
        if device_kind == "gpu":
            if not self.gpus:
                return f"{precision} on GPU: this host has no GPU that TensorFlow can use"
            need = BF16_GPU_CAPABILITY if precision == "mixed_bfloat16" else FP16_GPU_CAPABILITY
            if self.min_capability() < need:
                return (f"{precision} needs GPUs of compute capability {need[0]}.{need[1]} or newer "
                        f"(found {self.min_capability()[0]}.{self.min_capability()[1]}): use float32")
            return None
        if precision == "mixed_float16":
            return ("mixed_float16 needs a GPU: CPUs have no float16 matmul and TensorFlow would emulate it; "
                    "on CPUs with AVX512_BF16 or AMX use mixed_bfloat16")
        if precision == "mixed_bfloat16" and not self.cpu.has_bf16:
            return (f"mixed_bfloat16 on this CPU would be emulated (no AVX512_BF16, AMX or Arm BF16 among its "
                    f"features: {', '.join(self.cpu.features) or 'none'}): use float32")
        return None

    def tf32(self) -> bool:
        """Whether float32 matmuls on these GPUs may run as TF32 (Ampere and newer)."""
        return bool(self.gpus) and self.min_capability() >= TF32_GPU_CAPABILITY

    def matmul_precision(self, compute_dtype: str, device_kind: str, tf32_enabled: bool = True) -> str:
        """The precision matmuls run at, named as in finetune.flops' peak table: a 16-bit policy's, else TF32 on
        GPUs of compute capability 8.0+ (TensorFlow's default there, unless turned off), else fp32."""
        if compute_dtype in ("bfloat16", "float16"):
            return {"bfloat16": "bf16", "float16": "fp16"}[compute_dtype]
        return "tf32" if device_kind == "gpu" and self.tf32() and tf32_enabled else "fp32"

    # --- identity ------------------------------------------------------------------------------------
    def identity(self, device_kind: str) -> dict:
        """What a step time on `device_kind` depends on: the fields the fingerprint hashes."""
        if device_kind == "gpu" and self.gpus:
            return {"gpus": [[g.name, list(g.compute_capability or ()), g.memory_mb] for g in self.gpus],
                    "cuda": self.cuda, "cudnn": self.cudnn}
        c = self.cpu
        return {"vendor": c.vendor, "model_name": c.model_name, "arch": c.arch, "family": c.family,
                "model": c.model, "stepping": c.stepping, "features": list(c.features), "cores": c.cores}

    def slug(self, device_kind: str) -> str:
        if device_kind == "gpu" and self.gpus:
            return f"gpu-{_slug(self.gpus[0].name)}-x{len(self.gpus)}"
        return f"cpu-{_slug(self.cpu.model_name)}-{self.cpu.isa()}-{self.cpu.cores}c"

    def key(self, device_kind: str) -> str:
        """Readable slug plus a short hash of identity(): e.g. cpu-amd-epyc-avx2-2c-1a2b3c."""
        digest = hashlib.sha256(json.dumps(self.identity(device_kind), sort_keys=True).encode()).hexdigest()
        return f"{self.slug(device_kind)}-{digest[:6]}"

    def describe(self, device_kind: str) -> str:
        """One line for messages: what the machine is, in words."""
        if device_kind == "gpu" and self.gpus:
            cc = self.gpus[0].compute_capability
            return (f"{len(self.gpus)} x {self.gpus[0].name} (compute capability "
                    f"{'.'.join(map(str, cc)) if cc else '?'}, CUDA {self.cuda}, cuDNN {self.cudnn})")
        c = self.cpu
        where = "/".join(x for x in (c.family, c.model, c.stepping) if x)
        cap = f" under ONEDNN_MAX_CPU_ISA={c.isa_cap}" if c.isa_cap else ""
        return (f"{c.model_name} ({c.vendor or c.arch}{' ' + where if where else ''}; {c.isa()}{cap}; "
                f"{c.cores} usable cores)")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["cpu"]["features"] = list(self.cpu.features)
        out["gpus"] = [{**asdict(g), "compute_capability": list(g.compute_capability or ())} for g in self.gpus]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Host":
        cpu = CpuInfo(**{**data["cpu"], "features": tuple(data["cpu"].get("features", ()))})
        gpus = tuple(GpuInfo(g["name"], tuple(g.get("compute_capability") or ()) or None, g.get("memory_mb"))
                     for g in data.get("gpus", ()))
        return cls(cpu, gpus, data.get("cuda"), data.get("cudnn"))

    @classmethod
    @functools.cache
    def here(cls) -> "Host":
        """This machine, asked once per process (TensorFlow's GPU list starts the GPU runtime)."""
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            text = ""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        cpu = CpuInfo.parse(text, arch=platform.machine(), cores=cores, memory_gb=_memory_gb(),
                            isa_cap=os.environ.get("ONEDNN_MAX_CPU_ISA") or None)
        gpus, cuda, cudnn = probe()
        return cls(cpu, gpus, cuda, cudnn)


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None
