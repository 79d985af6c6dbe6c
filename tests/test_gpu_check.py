"""bench/gpu_check.py, the GPU check without TensorFlow, run here on JAX's CPU with TensorFlow made unimportable: the
suite's own records of the step time (the contract every runner writes), and the report that renders them."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import contract

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not (importlib.util.find_spec("keras_hub") and importlib.util.find_spec("jax")),
                    reason="Keras 3, keras-hub and JAX are not installed: "
                           "FINETUNE_EXTRAS=keras3-jax python3 dev.py test tests/test_gpu_check.py")
def test_the_gpu_check_runs_the_suite_without_tensorflow_and_reports_it(generated_glue_dir, tmp_path):
    wheels = tmp_path / "wheels"  # nothing to carry here: every package is installed
    wheels.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests" / "no_tensorflow")}
    done = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "run", "--wheels", str(wheels), "--out", str(tmp_path / "out"),
         "--backends", "jax", "--model", "tiny", "--tier", "ci", "--platform", "cpu", "--",
         "-k", "test_variant_step_time and course", "--glue-dir", str(generated_glue_dir), "--progress", "off", "-q"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    document = json.loads((tmp_path / "out" / "jax.json").read_text())
    [step] = [b["extra_info"] for b in document["benchmarks"]]
    record = contract.validate(step)  # reads back whole, as its kind
    assert (step["schema"], step["kind"], step["engine"], step["device"]) == (contract.SCHEMA, "variant_step_time",
                                                                             "keras3-jax", "cpu")
    assert record.flops_per_step > 0 and step["precision"] == "fp32"
    report = (tmp_path / "out" / "report" / "report.md").read_text()
    assert "keras3-jax" in report and "tiny" in report


def test_the_gpu_check_refuses_a_missing_wheels_folder_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "run", "--wheels", str(tmp_path / "none"),
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"gpu_check: --wheels {tmp_path / 'none'}: no such folder; make it where PyPI is reachable: "
        f"python bench/gpu_check.py wheels {tmp_path / 'none'}"]


def test_an_unusable_gpu_is_one_line_not_a_cpu_run(generated_glue_dir):
    """JAX_PLATFORMS=cuda (as the GPU check sets it) where JAX has no CUDA: one line and a non-zero exit."""
    if not importlib.util.find_spec("jax"):
        pytest.skip("JAX is not installed: FINETUNE_EXTRAS=keras3-jax python3 dev.py test tests/test_gpu_check.py")
    try:
        import jax

        jax.devices("gpu")
        pytest.skip("this machine's JAX has a GPU")
    except RuntimeError:
        pass
    env = {**os.environ, "JAX_PLATFORMS": "cuda", "PYTHONPATH": str(ROOT / "tests" / "no_tensorflow")}
    done = subprocess.run([sys.executable, "-m", "finetune", "--engine", "keras3", "--backend", "jax", "--model",
                           "tiny", "--glue-dir", str(generated_glue_dir)], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: JAX_PLATFORMS=cuda: JAX cannot use the GPU")
