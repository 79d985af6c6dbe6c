"""The keras3 engine (finetune/keras3.py): its configuration, its baseline keys, and a tiny fine-tune on JAX."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import store
from bench.ingest import command_of
from finetune import FinetuneError, RunConfig

ROOT = Path(__file__).resolve().parent.parent


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
    assert store.quality_key("mrpc", "from_logits", "linear-decay", 1, 2400, 8) == old
    assert store.quality_key("mrpc", "from_logits", "linear-decay", 1, 2400, 8,
                             store.engine_name("keras3", "jax")) == old + "/engine=keras3-jax"
    result = {"config": {"task": "mrpc", "loss": "string", "optimizer": "adam", "epochs": 1, "max_train_samples": 64,
                         "batch_size": 8, "seed": 0, "engine": "keras3", "backend": "tensorflow", "model": "tiny"},
              "scores": {"accuracy": 0.5}, "collapsed": None}
    assert list(store.quality_groups([result], {})) == [
        "quality/mrpc/string/adam/epochs=1/train=64/batch=8/engine=keras3-tensorflow"]
    assert "--engine keras3 --backend tensorflow" in command_of(result["config"], [0])
    no_engine = {**result, "config": {k: v for k, v in result["config"].items() if k not in ("engine", "backend")}}
    assert list(store.quality_groups([no_engine], {})) == ["quality/mrpc/string/adam/epochs=1/train=64/batch=8"]


@pytest.mark.skipif(not (importlib.util.find_spec("keras_hub") and importlib.util.find_spec("jax")),
                    reason="the keras3 extra is not installed: FINETUNE_EXTRAS=report,keras3 python3 dev.py test")
def test_a_tiny_fine_tune_on_keras3_with_jax(generated_glue_dir, tmp_path):
    """A fresh process (Keras 3 fixes its backend at import): the recipe runs, the result names its engine, and the
    schedule spans the epoch's steps."""
    out = tmp_path / "k3.json"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run(
        [sys.executable, "-m", "finetune", "--engine", "keras3", "--backend", "jax", "--model", "tiny", "--epochs", "1",
         "--glue-dir", generated_glue_dir, "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert (result["config"]["engine"], result["config"]["backend"]) == ("keras3", "jax")
    assert result["num_train_steps"] == 5 and result["fit"]["steps"] == 5 and len(result["step_losses"]) == 5
    assert result["num_eval_examples"] == 12 and 0 <= result["accuracy"] <= 1
    assert result["versions"]["keras-hub"] and result["versions"]["jax"] and "keras" in result["versions"]
