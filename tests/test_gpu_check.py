"""bench/gpu_check.py, the GPU check without TensorFlow, run here on JAX's CPU with TensorFlow made unimportable: the
step-time table it writes, and the quality run from the bundled MiniLM's folder (a few rows)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NO_TENSORFLOW = ("import sys, runpy; sys.modules['tensorflow'] = None; sys.argv = ['bench/gpu_check.py'] + sys.argv[1:]; "
                 "runpy.run_path('bench/gpu_check.py', run_name='__main__')")


@pytest.mark.skipif(not (importlib.util.find_spec("keras_hub") and importlib.util.find_spec("jax")),
                    reason="the keras3 extra is not installed: FINETUNE_EXTRAS=report,keras3 python3 dev.py test")
def test_the_gpu_check_measures_without_tensorflow(real_glue_dir, tmp_path):
    from finetune.models import bundled_model_dir

    out = tmp_path / "jax.json"
    env = {**{k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW, "measure", "--backend", "jax", "--config", "tiny", "--steps", "2",
         "--length", "16", "--json", str(out), "--weights", bundled_model_dir(), "--glue-dir", real_glue_dir,
         "--max-train-samples", "16", "--max-eval-samples", "24"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["tensorflow_imported"] is False and result["device"]["platform"] == "cpu"
    rows = {(r["batch_size"], r["precision"]): r for r in result["step_time"]}
    assert set(rows) == {(8, "float32"), (32, "float32"), (8, "mixed_bfloat16"), (32, "mixed_bfloat16")}
    for (batch, _), row in rows.items():
        assert row["steps_timed"] == 2 and row["length"] == 16 and row["ms_per_step"] > 0
        assert row["examples_per_s"] == pytest.approx(batch * 1000 / row["ms_per_step"])
    quality = result["quality"]
    assert quality["train_rows"] == 16 and quality["eval_rows"] == 24 and 0 <= quality["accuracy"] <= 1


def test_the_gpu_check_refuses_a_missing_wheels_folder_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "run", "--wheels", str(tmp_path / "none"),
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"gpu_check: --wheels {tmp_path / 'none'}: no such folder; make it where PyPI is reachable: "
        f"python bench/gpu_check.py wheels {tmp_path / 'none'}"]
