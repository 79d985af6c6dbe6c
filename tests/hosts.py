"""Described hosts for the unit tests: /proc/cpuinfo excerpts of real CPU kinds, and GPU hosts, so that every
hardware-dependent decision is tested on every kind whatever machine runs the tests."""

from finetune.hardware import CpuInfo, GpuInfo, Host

# The two hosts this project's machines have been (both print only "AMD EPYC"), an Intel CPU with AMX, and an
# Arm Neoverse V1 (AWS Graviton3), as their /proc/cpuinfo prints them (flags cut to the interesting ones).
EPYC_AVX2 = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC
stepping	: 1
flags		: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2 sha_ni hypervisor
"""
EPYC_BF16 = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 17
model name	: AMD EPYC
stepping	: 1
flags		: fpu sse sse2 avx f16c fma avx2 avx512f avx512bw avx512vl avx512_vnni avx512_bf16 hypervisor
"""
XEON_AMX = """processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 207
model name	: Intel(R) Xeon(R) Processor
stepping	: 2
flags		: fpu sse avx f16c fma avx2 avx512f avx512bw avx512vl avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8

processor	: 1
vendor_id	: GenuineIntel
flags		: something else entirely
"""
GRAVITON3 = """processor	: 0
BogoMIPS	: 2100.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm sve i8mm bf16 svebf16
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x1
CPU part	: 0xd40
CPU revision	: 1
"""
GRAVITON2 = """processor	: 0
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x3
CPU part	: 0xd0c
"""


def cpu_host(text: str, arch: str = "x86_64", cores: int = 2, memory_gb: float = 23.5) -> Host:
    return Host(CpuInfo.parse(text, arch=arch, cores=cores, memory_gb=memory_gb))


def gpu_host(name: str, capability: tuple, count: int = 1, memory_mb: int = 81559) -> Host:
    return Host(CpuInfo.parse(XEON_AMX, cores=26), tuple(GpuInfo(name, capability, memory_mb) for _ in range(count)),
                cuda="12.5.1", cudnn="9")


AVX2 = cpu_host(EPYC_AVX2)
AVX512_BF16 = cpu_host(EPYC_BF16)
AMX = cpu_host(XEON_AMX)
ARM_BF16 = cpu_host(GRAVITON3, arch="aarch64")
ARM = cpu_host(GRAVITON2, arch="aarch64")
H100_X1 = gpu_host("NVIDIA H100 80GB HBM3", (9, 0))
H100_X8 = gpu_host("NVIDIA H100 80GB HBM3", (9, 0), count=8)
V100_X1 = gpu_host("Tesla V100-SXM2-16GB", (7, 0), memory_mb=16160)
V100_X8 = gpu_host("Tesla V100-SXM2-16GB", (7, 0), count=8, memory_mb=16160)
