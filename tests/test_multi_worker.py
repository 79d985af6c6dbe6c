"""tf-keras on several workers (--distribute multi-worker: MultiWorkerMirroredStrategy under bench.launch), on the
generated tiny MRPC (40 training rows: 5 global batches of 8)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import launch

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--model", "tiny", "--epochs", "1", "--warmup-steps", "0"]
# tf-keras's dropout draws its masks per worker (each of 2 workers for its 4 rows), not the one process's 8 rows,
# so the per-step losses differ by dropout's noise: measured at most 0.009 on this tiny model (8 steps). A run whose
# loss doubled (the workers' logs summed), or whose workers each read every row, is far outside.
TF_LOSS_TOLERANCE = 0.03


def finetune(glue_dir, out, *more):
    return [sys.executable, "-m", "finetune", *TINY, "--glue-dir", glue_dir, "--json", str(out), *more]


@pytest.fixture(scope="module")
def one_worker(generated_glue_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "one.json"
    done = subprocess.run(finetune(generated_glue_dir, out), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_two_tf_keras_workers_step_as_one_at_the_same_global_batch(one_worker, generated_glue_dir, tmp_path):
    out = tmp_path / "two.json"
    done = subprocess.run([sys.executable, "-m", "bench.launch", "--workers", "2", "--timeout", "500", "--",
                           *finetune(generated_glue_dir, out, "--distribute", "multi-worker")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    two = json.loads(out.read_text())
    assert two["config"]["perf"]["distribute"] == "multi-worker"
    assert two["num_train_steps"] == one_worker["num_train_steps"] == 5  # the global batch stays the recipe's
    assert two["step_losses"] == pytest.approx(one_worker["step_losses"], abs=TF_LOSS_TOLERANCE)
    assert two["num_eval_examples"] == 12  # every worker predicts the whole validation set; the chief reports
    # the chief alone prints (and writes) the result: one JSON document in the launcher's output, unprefixed
    assert done.stdout.count('"num_train_steps"') == 1 and '[worker 1] {' not in done.stdout


def test_a_worker_killed_mid_epoch_stops_the_launcher_within_the_bound(generated_glue_dir, tmp_path):
    """MultiWorkerMirroredStrategy's chief would wait on the dead peer's all-reduce; the launcher stops it."""
    stamp = tmp_path / "died"
    env = {"KILL_WORKER_STAMP": str(stamp), "PATH": "/usr/bin:/bin", "GLUE_DIR": generated_glue_dir,
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench.launch", "--workers", "2", "--timeout", "500", "--",
                           sys.executable, str(ROOT / "tests" / "kill_worker.py"), *TINY, "--glue-dir",
                           generated_glue_dir, "--distribute", "multi-worker"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    ended = time.time()
    assert done.returncode != 0 and stamp.exists(), done.stdout[-3000:]
    assert ended - float(stamp.read_text()) < launch.STOP_BOUND_S + 2  # + the launcher's own exit
    assert done.stderr.strip().splitlines()[-1] == ("bench.launch: worker 1 (not the chief) ended with killed by "
                                                    "SIGKILL; stopped the 1 other(s) still running")


@pytest.mark.parametrize("world, says", [
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                               "task": {"type": "worker", "index": 1}})},
     "this process is worker 1 of 2 (TF_CONFIG) but --distribute is none: every worker would train alone"),
    ({}, "--distribute multi-worker needs workers: python -m bench.launch --workers 2"),
])
def test_a_world_and_a_distribution_that_do_not_fit_are_one_line(world, says, generated_glue_dir, tmp_path):
    more = [] if world else ["--distribute", "multi-worker"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **world}
    done = subprocess.run(finetune(generated_glue_dir, tmp_path / "x.json", *more), cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith(f"error: {says}")
