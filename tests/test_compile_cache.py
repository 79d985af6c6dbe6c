"""XLA's persistent compile cache (finetune/compile_cache.py): where $FINETUNE_COMPILE_CACHE points each framework,
how a fine-tune's use of it is labelled, and a real tf-keras fine-tune that compiles cold and then reads it warm."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finetune import compile_cache

ROOT = Path(__file__).resolve().parents[1]


def test_unset_is_no_cache_and_changes_nothing():
    environ = {"TF_XLA_FLAGS": "--tf_xla_auto_jit=0"}
    assert compile_cache.configure(environ) is None
    assert environ == {"TF_XLA_FLAGS": "--tf_xla_auto_jit=0"}
    assert compile_cache.Snapshot.take(environ).label(compiles=True) == "off"


def test_the_variable_points_tensorflow_and_jax_into_it_keeping_the_callers_flags(tmp_path):
    environ = {compile_cache.ENV: str(tmp_path), "TF_XLA_FLAGS": "--tf_xla_auto_jit=0"}
    assert compile_cache.configure(environ) == tmp_path
    assert environ["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=0 --tf_xla_persistent_cache_directory={tmp_path / 'tf-xla'}"
    assert environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "jax")
    assert environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"  # a small compile is kept too
    compile_cache.configure(environ)  # a second import (a child process) adds nothing
    assert environ["TF_XLA_FLAGS"].count("persistent_cache_directory") == 1


def test_a_callers_own_cache_directories_win(tmp_path):
    environ = {compile_cache.ENV: str(tmp_path), "TF_XLA_FLAGS": "--tf_xla_persistent_cache_directory=/elsewhere",
               "JAX_COMPILATION_CACHE_DIR": "/elsewhere/jax"}
    compile_cache.configure(environ)
    assert environ["TF_XLA_FLAGS"] == "--tf_xla_persistent_cache_directory=/elsewhere"
    assert environ["JAX_COMPILATION_CACHE_DIR"] == "/elsewhere/jax"


def test_the_label_says_cold_warm_partly_warm_or_unused(tmp_path):
    environ = {compile_cache.ENV: str(tmp_path)}
    empty = compile_cache.Snapshot.take(environ)
    assert empty.held == 0 and empty.label(compiles=True) == "cold (0 held, 0 stored)"
    (tmp_path / "tf-xla").mkdir()
    for name in ("a.pb", "b.pb"):
        (tmp_path / "tf-xla" / name).write_bytes(b"x")
    assert empty.label(compiles=True) == "cold (0 held, 2 stored)"
    held = compile_cache.Snapshot.take(environ)
    assert held.held == 2 and held.label(compiles=True) == "warm (2 held, 0 stored)"
    (tmp_path / "jax").mkdir()
    (tmp_path / "jax" / "c").write_bytes(b"x")
    assert held.label(compiles=True) == "partly warm (2 held, 1 stored)"
    # a run that compiles nothing with XLA is neither: a warm cache must not make the course look warm
    assert held.label(compiles=False) == "unused: no XLA compile (2 held, 1 stored)"


def run_tiny_xla(cache: Path, out: Path, glue_dir: str) -> dict:
    env = {**os.environ, compile_cache.ENV: str(cache)}
    done = subprocess.run([sys.executable, "-m", "finetune", "--model", "tiny", "--padding", "fixed", "--jit-compile",
                           "--epochs", "1", "--max-train-samples", "32", "--max-eval-samples", "16",
                           "--glue-dir", glue_dir, "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(out.read_text())


def test_a_tf_keras_xla_fine_tune_stores_its_executables_cold_and_reads_them_back_warm(tmp_path, real_glue_dir):
    """Two processes of the same XLA fine-tune: the first finds the cache empty and stores its compiles (cold); the
    second finds them, stores nothing new (warm), and learns the same (the cache changes when XLA compiles, not what
    it computes)."""
    cold = run_tiny_xla(tmp_path / "cache", tmp_path / "cold.json", real_glue_dir)
    assert cold["compile_cache"].startswith("cold (0 held, ") and not cold["compile_cache"].endswith(" 0 stored)")
    stored = compile_cache.entries(tmp_path / "cache" / "tf-xla")
    assert stored > 0
    warm = run_tiny_xla(tmp_path / "cache", tmp_path / "warm.json", real_glue_dir)
    assert warm["compile_cache"] == f"warm ({stored} held, 0 stored)"
    assert warm["step_losses"] == cold["step_losses"] and warm["accuracy"] == cold["accuracy"]


def test_jax_keeps_its_compiles_in_the_folder_from_the_variable(tmp_path):
    """JAX reads JAX_COMPILATION_CACHE_DIR when it starts: a jitted function's executable lands in DIR/jax, and a
    second process finds it (as keras3-jax's train step would). Skips where JAX is not installed (the keras3 job's
    environment has it: FINETUNE_EXTRAS=keras3-jax python3 dev.py test tests/test_compile_cache.py)."""
    pytest.importorskip("jax", reason="JAX is not installed: FINETUNE_EXTRAS=keras3-jax python3 dev.py test "
                                      "tests/test_compile_cache.py")
    code = ("import finetune, jax, jax.numpy as jnp; from finetune import compile_cache; "
            "before = compile_cache.Snapshot.take(); jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.ones((64, 64)))"
            ".block_until_ready(); print(before.label(compiles=True))")
    env = {**os.environ, compile_cache.ENV: str(tmp_path), "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    labels = [subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120).stdout.strip().splitlines()[-1] for _ in range(2)]
    stored = compile_cache.entries(tmp_path / "jax")
    assert stored > 0 and labels == [f"cold (0 held, {stored} stored)", f"warm ({stored} held, 0 stored)"], labels
