"""tf-keras on several workers (--distribute multi-worker: MultiWorkerMirroredStrategy under bench.launch), on the
generated tiny MRPC (40 training rows: 5 global batches of 8)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.launch import cli as launch
from finetune import engines

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


@pytest.mark.parametrize("device, collective", [("cpu", "RING"), ("gpu", "NCCL")])
def test_tf_keras_workers_all_reduce_over_ring_on_cpus_and_nccl_on_gpus(device, collective):
    """The choice the records are judged by (the multi-worker test below): tf.distribute's RING between CPUs, NCCL
    between GPUs, whatever this process sees."""
    assert engines.get("tf-keras").collective(device) == collective


def test_pytest_bench_under_the_launcher_runs_the_multi_worker_benchmarks_and_the_chief_writes(generated_glue_dir,
                                                                                                 tmp_path):
    """`python -m bench.launch --workers 2 -- pytest bench/`: every single-process test is deselected on both
    workers, the two multi-worker benchmarks run, and the chief alone writes the JSON, whose records carry the world
    (2 workers of 1 replica on one host, and the collective the engine picks for the record's device: RING on CPUs,
    NCCL where the workers use GPUs), the one-process figure beside the step time, the all-reduce timed alone, and
    no speed claim (the workers share this host's cores)."""
    out = tmp_path / "mw.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.launch", "--workers", "2", "--timeout", "500", "--", sys.executable, "-m",
         "pytest", "bench/", "--model", "tiny", "--tier", "ci", "--glue-dir", generated_glue_dir, "-p",
         "no:cacheprovider", "-q", "-rs", f"--benchmark-json={out}", "--progress", "off"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert [line for line in lines if "Wrote benchmark data" in line] == [f"Wrote benchmark data in: {out}"]
    assert any(line.startswith("[worker 1] ") and "deselected" in line for line in lines)  # the other wrote nothing
    infos = {b["extra_info"]["kind"]: b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]}
    assert set(infos) == {"multi_worker_step_time", "multi_worker_quality"}
    step, quality = infos["multi_worker_step_time"], infos["multi_worker_quality"]
    for info in (step, quality):
        collective = engines.get("tf-keras").collective(info["device"])  # the code that picks it, for this device
        assert (info["workers"], info["replicas_per_worker"], info["hosts"], info["collective"]) == (2, 1, 1,
                                                                                                    collective)
        assert info["speed_claim"].startswith("none: the 2 workers share one host's cores")
    assert step["batch_size"] == 8 and step["worker_batch_size"] == 4 and step["rows"] == 20  # 40 rows, halved
    assert step["single_process_step_time_ms"] > 0 and step["allreduce_ms"] > 0
    assert step["scaling_efficiency"] == pytest.approx(
        step["single_process_step_time_ms"] / (2 * step["step_time_ms"]))
    assert quality["variant"] == "multi-worker" and 0 <= quality["accuracy"] <= 1
    assert "none: the 2 workers share one host's cores" in done.stdout  # the step time's skip says why
