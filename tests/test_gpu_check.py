"""bench/gpu_check.py, the GPU check without TensorFlow: its bad input in one line. Its run on JAX's CPU with
TensorFlow made unimportable is tests/test_keras3_bench.py's session (keras3_bench_run)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent


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
