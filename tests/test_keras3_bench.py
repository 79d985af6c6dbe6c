"""A tiny `pytest bench/ --engine keras3 --backend jax` session with TensorFlow made unimportable, through the GPU
check (bench/gpu/check.py) on JAX's CPU: every record names its engine, and its report renders."""

import importlib.util
import json
import subprocess
import sys

import pytest

from finetune.hardware import Host
from tests.test_keras3 import ROOT, without_tensorflow


@pytest.fixture(scope="module")
def keras3_bench_run(generated_glue_dir, tmp_path_factory):
    """`pytest bench/ --engine keras3 --backend jax` with the tiny model on 40 generated pairs: the course's recipes,
    the gated step time in its timing processes, and three performance variants (mirrored: skipped by the CI
    tier, which names --tier full)."""
    if not (importlib.util.find_spec("keras_hub") and importlib.util.find_spec("jax")):
        pytest.skip("Keras 3, keras-hub and JAX are not installed: "
                    "FINETUNE_EXTRAS=keras3-jax python3 dev.py test tests/test_keras3_bench.py")
    out = tmp_path_factory.mktemp("keras3")
    (out / "wheels").mkdir()  # nothing to carry here: every package is installed
    # through the GPU check (bench/gpu/check.py), on JAX's CPU (--platform cpu: JAX_PLATFORMS=cpu)
    done = subprocess.run(
        [sys.executable, "bench/gpu/check.py", "run", "--wheels", str(out / "wheels"), "--out", str(out / "out"),
         "--backends", "jax", "--model", "tiny", "--tier", "ci", "--platform", "cpu", "--",
         "bench/test_quality.py::test_quality", "bench/test_step_time.py",
         "bench/test_performance.py::test_variant_step_time[seed0-course]",
         "bench/test_performance.py::test_variant_step_time[seed0-bf16-bucket]",
         "bench/test_performance.py::test_variant_step_time[seed0-mirrored]",
         "--glue-dir", str(generated_glue_dir), "--tb=short", "-q", "--progress", "off"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, env=without_tensorflow())
    failures = done.stdout.find("= FAILURES =")
    # 0: every test of the session passed; a failed test or gate is 1, its records still reported (gpu_check's last
    # line, at the end of stderr, names the failed tests)
    assert done.returncode == 0, done.stdout[failures:failures + 4000] + done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads((out / "out" / "jax.json").read_text()), done.stdout, out / "out"


def test_pytest_bench_runs_on_keras3_and_every_record_names_its_engine(keras3_bench_run):
    document, stdout, _ = keras3_bench_run
    infos = {b["name"]: b["extra_info"] for b in document["benchmarks"]}
    assert all(info["engine"] == "keras3-jax" for info in infos.values()), {n: i.get("engine") for n, i in infos.items()}
    quality = [info for info in infos.values() if info["kind"] == "quality"]
    assert len(quality) == 4 and all(q["steps_timed"] == 5 and q["max_train_samples"] == 2400 for q in quality)
    step = next(info for info in infos.values() if info["kind"] == "step_time")  # 16 batches asked, 5 there
    assert step["device"] == "cpu" and step["processes"] == 3 and step["steps_timed"] == 3 * 5 * 5
    # the step-time gpu parametrization skips: Keras 3 places ops where its backend does
    assert "keras3-jax runs where its backend places it (cpu here)" in stdout
    variants = {info["variant"]: info for info in infos.values() if info["kind"] == "variant_step_time"}
    assert variants["course"]["perf_jit_compile"] and variants["course"]["perf_pad_multiple"] == 8
    assert variants["course"]["precision"] == "fp32"
    if Host.here().cpu.has_bf16:  # else it skips as on tf-keras: no native bfloat16 on this CPU
        assert variants["bf16-bucket"]["precision"] == "bf16"
    else:
        assert "bf16-bucket" not in variants and "bf16-bucket: mixed_bfloat16" in stdout
    assert "mirrored" not in variants and "mirrored: tier ci times the variants course, bucket" in stdout


def test_the_gpu_check_ran_that_session_and_its_report_renders_it(keras3_bench_run):
    """bench/gpu/check.py (the GPU check, here with --platform cpu) wrote the suite's own contract, which reads back
    whole, and bench.report rendered it."""
    from bench.store import contract

    document, stdout, out = keras3_bench_run
    for benchmark in document["benchmarks"]:
        record = contract.validate(benchmark["extra_info"])
        assert record.engine == "keras3-jax" and benchmark["extra_info"]["schema"] == contract.SCHEMA
    report = (out / "report" / "report.md").read_text()
    assert "keras3-jax" in report and "tiny" in report
    assert f"gpu_check: {out / 'jax.json'} and {out / 'report'}" in stdout
