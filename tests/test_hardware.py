"""The host as a description (finetune.hardware): parsing, capabilities, the best variant per host, and the
fingerprint that keys baselines. Every test passes its host in, so none depends on the machine running it."""

import pytest

from finetune import FinetuneError, calibration, environment, perf
from finetune.hardware import CpuInfo, Host
from tests.hosts import XEON_AMX, AMX, ARM, ARM_BF16, AVX2, AVX512_BF16, EPYC_AVX2, H100_X1, H100_X8, V100_X1, V100_X8


def test_cpuinfo_is_parsed_into_what_step_time_depends_on():
    assert AVX2.cpu.vendor == "AuthenticAMD" and AVX2.cpu.model_name == "AMD EPYC"
    assert (AVX2.cpu.family, AVX2.cpu.model, AVX2.cpu.stepping) == ("25", "1", "1")
    assert AVX2.cpu.features == ("avx", "avx2", "fma", "f16c") and AVX2.cpu.isa() == "avx2"
    assert "avx512_bf16" in AVX512_BF16.cpu.features and AVX512_BF16.cpu.isa() == "avx512bf16"
    assert AMX.cpu.isa() == "amx" and AMX.cpu.model == "207"  # the first processor block only
    assert ARM_BF16.cpu.vendor == "ARM" and ARM_BF16.cpu.model == "0xd40" and ARM_BF16.cpu.isa() == "sve-bf16"
    assert ARM.cpu.isa() == "neon" and not ARM.cpu.has_bf16
    assert CpuInfo.parse("").features == ()  # nothing readable: no features, no crash


@pytest.mark.parametrize("host, kind, precision, refused", [
    (AVX2, "cpu", "float32", None),
    (AVX2, "cpu", "mixed_bfloat16", "would be emulated"),
    (AVX2, "cpu", "mixed_float16", "needs a GPU"),
    (AVX512_BF16, "cpu", "mixed_bfloat16", None),
    (AMX, "cpu", "mixed_bfloat16", None),
    (AMX, "cpu", "mixed_float16", "needs a GPU"),
    (ARM_BF16, "cpu", "mixed_bfloat16", None),
    (ARM, "cpu", "mixed_bfloat16", "would be emulated"),
    (H100_X1, "gpu", "mixed_bfloat16", None),
    (H100_X8, "gpu", "mixed_float16", None),
    (V100_X1, "gpu", "mixed_bfloat16", "compute capability 8.0 or newer"),
    (V100_X8, "gpu", "mixed_float16", None),
    (AVX2, "gpu", "mixed_float16", "no GPU"),
])
def test_precisions_run_where_the_host_has_them(host, kind, precision, refused):
    problem = perf.unsupported_precision(precision, kind, host)
    assert problem is None if refused is None else refused in problem


@pytest.mark.parametrize("host, kind, variant, has_target", [
    (AVX2, "cpu", "bucket", False),
    (AVX512_BF16, "cpu", "bf16-bucket", True),
    (AMX, "cpu", "bf16-bucket", True),
    (ARM_BF16, "cpu", "bf16-bucket", True),
    (ARM, "cpu", "bucket", False),
    (H100_X1, "gpu", "bf16-xla-bucket8", False),
    (H100_X8, "gpu", "bf16-xla-bucket8", False),
    (V100_X1, "gpu", "fp16-xla-bucket8", False),
    (H100_X1, "cpu", "bf16-bucket", True),  # a GPU host's CPU is judged as a CPU
])
def test_best_is_the_fastest_variant_the_host_supports(host, kind, variant, has_target):
    choice = perf.best_choice(kind, host)
    assert choice.variant == variant and (choice.target is not None) is has_target
    assert perf.variant("best", kind, host) == perf.VARIANTS[variant]
    assert perf.unsupported_precision(perf.VARIANTS[variant].precision, kind, host) is None  # it runs there


def test_hosts_that_print_the_same_model_name_get_different_fingerprints():
    assert AVX2.cpu.model_name == AVX512_BF16.cpu.model_name == "AMD EPYC"
    assert AVX2.key("cpu") != AVX512_BF16.key("cpu")
    assert AVX2.key("cpu").startswith("cpu-amd-epyc-avx2-2c-")
    assert AVX512_BF16.key("cpu").startswith("cpu-amd-epyc-avx512bf16-2c-")
    fewer_cores = Host(CpuInfo.parse(EPYC_AVX2, cores=1, memory_gb=23.5))
    more_memory = Host(CpuInfo.parse(EPYC_AVX2, cores=2, memory_gb=64.0))
    assert fewer_cores.key("cpu") != AVX2.key("cpu") and more_memory.key("cpu") == AVX2.key("cpu")


def test_a_onednn_isa_cap_leaves_out_the_features_above_it_and_is_another_fingerprint():
    capped = Host(CpuInfo.parse(XEON_AMX, cores=26, isa_cap="avx2"))
    assert capped.cpu.features == ("avx", "avx2", "fma", "f16c") and capped.cpu.isa() == "avx2"
    assert "would be emulated" in perf.unsupported_precision("mixed_bfloat16", "cpu", capped)
    assert perf.best_choice("cpu", capped).variant == "bucket"
    assert capped.key("cpu") != AMX.key("cpu") and "ONEDNN_MAX_CPU_ISA=AVX2" in capped.describe("cpu")
    bf16_only = CpuInfo.parse(XEON_AMX, isa_cap="AVX512_CORE_BF16")
    assert "avx512_bf16" in bf16_only.features and "amx_bf16" not in bf16_only.features
    assert CpuInfo.parse(XEON_AMX, isa_cap="DEFAULT").features == AMX.cpu.features
    with pytest.raises(FinetuneError, match="ONEDNN_MAX_CPU_ISA=AVX3 is not a oneDNN level"):
        CpuInfo.parse(XEON_AMX, isa_cap="AVX3")


def test_gpu_fingerprints_name_the_gpu_and_count_and_survive_the_json_round_trip():
    assert H100_X8.key("gpu").startswith("gpu-nvidia-h100-80gb-hbm3-x8-")
    assert H100_X1.key("gpu").startswith("gpu-nvidia-h100-80gb-hbm3-x1-")
    assert H100_X1.key("gpu") != H100_X8.key("gpu") != V100_X8.key("gpu")
    assert H100_X8.key("cpu") == AMX.key("cpu").replace("-2c-", "-26c-")[:-6] + H100_X8.key("cpu")[-6:]
    for host in (AVX2, AMX, ARM_BF16, H100_X8, V100_X1):
        again = Host.from_dict(host.to_dict())
        assert again == host and again.key("gpu") == host.key("gpu") and again.key("cpu") == host.key("cpu")
        hardware = {"cpu": host.cpu.model_name, "cpu_count": host.cpu.cores, "gpus": [g.name for g in host.gpus],
                    "host": host.to_dict()}
        assert environment.key_for(hardware, "auto") == host.key("gpu" if host.gpus else "cpu")
        assert environment.key_for(hardware, "cpu") == host.key("cpu")


def test_files_from_before_fingerprints_keep_their_slug_and_match_no_host():
    legacy = {"cpu": "AMD EPYC", "cpu_count": 2, "machine": "x86_64", "gpus": []}
    assert environment.key_for(legacy) == "cpu-amd-epyc-2c"
    assert environment.key_for({**legacy, "gpus": ["NVIDIA H100 80GB HBM3"] * 8}) == "gpu-nvidia-h100-80gb-hbm3-x8"
    assert all(host.key("cpu") != "cpu-amd-epyc-2c" for host in (AVX2, AVX512_BF16))


def test_tf32_is_claimed_for_ampere_and_newer_only():
    assert H100_X1.tf32() and not V100_X8.tf32() and not AMX.tf32()
    assert H100_X8.matmul_precision("float32", "gpu") == "tf32"
    assert H100_X8.matmul_precision("float32", "gpu", tf32_enabled=False) == "fp32"
    assert V100_X1.matmul_precision("float32", "gpu") == "fp32"  # Volta has no TF32
    assert H100_X1.matmul_precision("float32", "cpu") == "fp32"  # the CPU of a GPU host
    assert V100_X1.matmul_precision("float16", "gpu") == "fp16" and AMX.matmul_precision("bfloat16", "cpu") == "bf16"


def test_xla_with_mirrored_is_refused_in_one_line():
    with pytest.raises(FinetuneError, match="--jit-compile with --distribute mirrored is broken in tf-keras"):
        perf.PerfConfig(jit_compile=True, distribute="mirrored")


def test_this_machine_is_described_and_keyed():
    here = Host.here()
    assert here.cpu.cores >= 1 and here.cpu.model_name
    assert environment.hardware_key("cpu") == here.key("cpu") == environment.hardware()["fingerprint"]["cpu"]
    assert environment.hardware()["host"] == here.to_dict()


def test_calibration_drift_warns_only_beyond_its_tolerance():
    then = {"fp32_gflops": 100.0}
    assert calibration.drift({"fp32_gflops": 85.0}, then) is None
    assert calibration.drift({"fp32_gflops": 115.0}, then) is None
    slow = calibration.drift({"fp32_gflops": 60.0}, then)
    assert "0.60x" in slow and "slower" in slow
    assert "faster" in calibration.drift({"fp32_gflops": 150.0}, then)
    assert calibration.drift({"fp32_gflops": 60.0}, None) is None and calibration.drift(None, then) is None


def test_calibration_measures_the_host_precisions_only():
    found = calibration.measure("cpu", AVX2)  # on this machine, but only the precisions an AVX2 host runs
    assert found["fp32_gflops"] > 0 and "bf16_gflops" not in found and "fp16_gflops" not in found
    assert calibration.peak_gflops(found, "fp32") == found["fp32_gflops"] == calibration.peak_gflops(found, "tf32")
    assert calibration.peak_gflops(found, "bf16") is None and calibration.peak_gflops(None, "fp32") is None


def test_the_cpu_calibration_measures_the_memorys_bandwidth_on_the_steps_cores():
    """A STREAM triad beside the matmul (finetune/bandwidth.py): a rate any host's DRAM reaches (over 1 GB/s, under
    1 TB/s: a miscount by the arrays' size or the passes would leave that range), on the usable cores."""
    from finetune import bandwidth

    found = bandwidth.triad(mib=32)
    assert 1.0 < found["triad_gbps"] < 1000.0 and found["threads"] == bandwidth.threads_here() and found["mib"] == 32
    assert bandwidth.floor_ms(28 * 22.7e6, 20.0) == pytest.approx(31.78)  # dense Adam of minilm-l6 at 20 GB/s
    assert bandwidth.ADAM_BYTES_PER_WEIGHT == 28
