"""The keras3 engine (finetune/engines/keras3.py): its configuration, its baseline keys, and with TensorFlow made
unimportable (tests/no_tensorflow): a tiny fine-tune on JAX (data-parallel) and on torch. The tiny
`pytest bench/ --engine keras3 --backend jax` session is tests/test_keras3_bench.py's (a file of its own, so that
dev.py's test workers run it beside these)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.store import baselines
from bench.store.ingest import command_of
from finetune import FinetuneError, RunConfig

ROOT = Path(__file__).resolve().parent.parent
NEEDS_JAX = pytest.mark.skipif(not (importlib.util.find_spec("keras_hub") and importlib.util.find_spec("jax")),
                               reason="Keras 3, keras-hub and JAX are not installed: "
                                      "FINETUNE_EXTRAS=keras3-jax python3 dev.py test tests/test_keras3.py")
NEEDS_TORCH = pytest.mark.skipif(not (importlib.util.find_spec("keras_hub") and importlib.util.find_spec("torch")),
                                 reason="Keras 3, keras-hub and torch are not installed: "
                                        "FINETUNE_EXTRAS=keras3-torch python3 dev.py test tests/test_keras3.py")


def without_tensorflow(**more) -> dict:
    """The environment of a child process in which `import tensorflow` fails (tests/no_tensorflow/sitecustomize.py),
    Keras 3's backend left to the command line."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests" / "no_tensorflow"), env.get("PYTHONPATH")]))
    return {**env, **more}


def test_keras3_needs_a_backend_and_tf_keras_takes_none():
    with pytest.raises(FinetuneError, match="--engine keras3 needs --backend: choose one of jax, tensorflow, torch"):
        RunConfig(engine="keras3")
    with pytest.raises(FinetuneError, match="--backend jax is for --engine keras3"):
        RunConfig(backend="jax")
    with pytest.raises(FinetuneError, match="unknown backend 'mlx'"):
        RunConfig(engine="keras3", backend="mlx")
    assert RunConfig(engine="keras3", backend="torch").backend == "torch"


def test_an_engine_is_in_the_quality_key_and_tf_keras_keeps_the_old_keys():
    old = "quality/mrpc/from_logits/linear-decay/epochs=1/train=2400/batch=8"
    assert baselines.quality_key("mrpc", "from_logits", "linear-decay", 1, 2400, 8) == old
    assert baselines.quality_key("mrpc", "from_logits", "linear-decay", 1, 2400, 8,
                             baselines.engine_name("keras3", "jax")) == old + "/engine=keras3-jax"
    result = {"config": {"task": "mrpc", "loss": "string", "optimizer": "adam", "epochs": 1, "max_train_samples": 64,
                         "batch_size": 8, "seed": 0, "engine": "keras3", "backend": "tensorflow", "model": "tiny"},
              "scores": {"accuracy": 0.5}, "collapsed": None}
    assert list(baselines.quality_groups([result], {})) == [
        "quality/mrpc/string/adam/epochs=1/train=64/batch=8/engine=keras3-tensorflow"]
    assert "--engine keras3 --backend tensorflow" in command_of(result["config"], [0])
    no_engine = {**result, "config": {k: v for k, v in result["config"].items() if k not in ("engine", "backend")}}
    assert list(baselines.quality_groups([no_engine], {})) == ["quality/mrpc/string/adam/epochs=1/train=64/batch=8"]


JAX_TINY = ["-m", "finetune", "--engine", "keras3", "--backend", "jax", "--model", "tiny", "--epochs", "1"]


@pytest.fixture(scope="module")
def jax_data_parallel(generated_glue_dir, tmp_path_factory):
    """A tiny fine-tune in one process whose JAX has two host devices, with the mirrored variant
    (keras.distribution.DataParallel): each device computes half of every global batch."""
    out = tmp_path_factory.mktemp("k3") / "k3.json"
    env = without_tensorflow(XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, *JAX_TINY, "--perf", "mirrored", "--glue-dir", generated_glue_dir,
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@NEEDS_JAX
def test_a_tiny_fine_tune_on_keras3_with_jax_data_parallel(jax_data_parallel):
    """A fresh process (Keras 3 fixes its backend at import): the recipe runs with the mirrored variant, the result
    names its engine, and the schedule spans the epoch's steps."""
    result = jax_data_parallel
    assert (result["config"]["engine"], result["config"]["backend"]) == ("keras3", "jax")
    assert result["config"]["perf"]["distribute"] == "mirrored"
    assert result["num_train_steps"] == 5 and result["fit"]["steps"] == 5 and len(result["step_losses"]) == 5
    assert result["num_eval_examples"] == 12 and 0 <= result["accuracy"] <= 1
    assert result["versions"]["keras-hub"] and result["versions"]["jax"] and "keras" in result["versions"]
    assert result["calibration"]["backend"] == "jax" and result["calibration"]["fp32_gflops"] > 0


@NEEDS_JAX
def test_two_jax_workers_train_as_one_process_with_two_devices(jax_data_parallel, generated_glue_dir, tmp_path):
    """bench.launch's 2 workers (jax.distributed, one CPU device each, each fed its half of every global batch)
    against one process whose 2 devices split the same global batches: one program over the same global arrays,
    dropout included, so the per-step losses agree to float rounding (measured: within 1e-5) and the predictions
    are the same. A worker reading every row, or its half twice, or not all-reducing, moves them by far more."""
    out = tmp_path / "two.json"
    done = subprocess.run([sys.executable, "-m", "bench.launch", "--workers", "2", "--timeout", "500", "--",
                           sys.executable, *JAX_TINY, "--distribute", "multi-worker", "--glue-dir", generated_glue_dir,
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          env=without_tensorflow(JAX_PLATFORMS="cpu"), timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    two = json.loads(out.read_text())
    assert two["config"]["perf"]["distribute"] == "multi-worker"
    assert two["num_train_steps"] == jax_data_parallel["num_train_steps"] == 5  # the global batch is the recipe's
    assert two["step_losses"] == pytest.approx(jax_data_parallel["step_losses"], abs=1e-4)
    assert two["accuracy"] == jax_data_parallel["accuracy"] and two["num_eval_examples"] == 12


@NEEDS_TORCH
def test_a_tiny_fine_tune_on_keras3_with_torch(generated_glue_dir, tmp_path):
    """The torch backend: the course's recipe, eager (no XLA), its calibration through torch."""
    out = tmp_path / "k3-torch.json"
    done = subprocess.run(
        [sys.executable, "-m", "finetune", "--engine", "keras3", "--backend", "torch", "--model", "tiny", "--epochs",
         "2", "--glue-dir", generated_glue_dir, "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, env=without_tensorflow(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert (result["config"]["backend"], result["config"]["perf"]["jit_compile"]) == ("torch", False)
    assert result["num_train_steps"] == 10 and len(result["step_losses"]) == 10 and len(result["epoch_losses"]) == 2
    assert result["calibration"]["backend"] == "torch" and result["versions"]["torch"]


def test_jax_runs_every_variant_compiled_and_in_lengths_of_eight():
    from finetune import perf
    from finetune.engines import keras3

    course = keras3.effective(perf.COURSE, "jax")
    assert (course.padding, course.pad_multiple, course.jit_compile) == ("multiple", 8, True)
    bucket = keras3.effective(perf.VARIANTS["bf16-bucket"], "jax")
    assert (bucket.padding, bucket.pad_multiple, bucket.precision, bucket.jit_compile) == (
        "bucket", 8, "mixed_bfloat16", True)
    mirrored = keras3.effective(perf.VARIANTS["mirrored"], "jax")  # XLA and data-parallel together, as JAX runs them
    assert (mirrored.distribute, mirrored.jit_compile) == ("mirrored", True)
    assert keras3.effective(perf.COURSE, "tensorflow") == perf.COURSE  # the course's, as tf-keras runs it
    assert keras3.unsupported(perf.VARIANTS["mirrored"], "tensorflow").startswith("keras3-tensorflow: Keras 3's data")
    assert "torch.compile" in keras3.unsupported(perf.VARIANTS["xla"], "torch")
    assert keras3.unsupported(mirrored, "jax") is None
