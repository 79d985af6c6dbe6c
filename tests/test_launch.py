"""The multi-worker launcher (bench/launch/cli.py) and the world it gives each worker (finetune/cluster.py), with plain
Python workers: no framework, so the faults (a death, a hang, a port in use) are tested in seconds."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.launch import cli as launch
from finetune import cluster
from finetune.data import NumpyBatches
from finetune.errors import FinetuneError

ROOT = Path(__file__).resolve().parent.parent


def run_launcher(*args, timeout=60):
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "bench.launch", *args], capture_output=True, text=True,
                          timeout=timeout)
    return done, time.monotonic() - started


WHO = "import os, json; from finetune import cluster; w = cluster.World.from_env(); "


def test_each_worker_gets_its_own_index_of_one_world_and_the_chief_speaks_unprefixed():
    done, _ = run_launcher("--workers", "3", "--", sys.executable, "-c",
                           WHO + "print(json.dumps({'world': [w.index, w.workers, list(w.addresses)]}))")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    chief = [json.loads(line)["world"] for line in lines if line.startswith("{")]
    others = {int(line.split("]")[0].split()[1]): json.loads(line.split("] ", 1)[1])["world"]
              for line in lines if line.startswith("[worker")}
    assert len(chief) == 1 and chief[0][:2] == [0, 3] and sorted(others) == [1, 2]
    assert all(others[i][:2] == [i, 3] for i in others)
    addresses = chief[0][2]
    assert len(set(addresses)) == 3 and all(others[i][2] == addresses for i in others)  # one world, 3 ports


def test_a_worker_that_dies_stops_the_others_within_the_bound():
    script = ("import os, signal, time; from finetune import cluster; w = cluster.World.from_env()\n"
              "if w.index == 1: time.sleep(1); os.kill(os.getpid(), signal.SIGKILL)\n"
              "time.sleep(600)\n")
    done, seconds = run_launcher("--workers", "2", "--", sys.executable, "-c", script)
    assert done.returncode != 0
    assert seconds < 1 + launch.STOP_BOUND_S + 5  # the death after 1 s; interpreter start-up on a slow host
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("bench.launch: worker 1") and "SIGKILL" in line and "stopped the 1 other" in line


def test_a_worker_that_never_starts_is_named_with_its_status():
    script = "import sys; from finetune import cluster; w = cluster.World.from_env(); sys.exit(3 if w.index else 0)"
    done, _ = run_launcher("--workers", "2", "--", sys.executable, "-c", script)
    assert done.returncode == 3 and "worker 1 (not the chief) ended with exit status 3" in done.stderr


def test_a_missing_program_is_one_line():
    done, _ = run_launcher("--workers", "2", "--", "no-such-program-here")
    assert done.returncode == 127 and done.stderr.strip() == ("bench.launch: cannot start 'no-such-program-here': "
                                                             "no such program")


def test_a_hang_is_a_failure_after_the_timeout():
    done, seconds = run_launcher("--workers", "2", "--timeout", "2", "--", sys.executable, "-c",
                                 "import time; time.sleep(600)")
    assert done.returncode == launch.TIMEOUT_STATUS and "--timeout 2 s passed" in done.stderr
    assert seconds < 2 + launch.STOP_BOUND_S + 5


def test_the_launcher_has_a_time_limit_by_default():
    """A hang with no --timeout given still ends: the default bounds it."""
    args, _ = launch.parse(["--workers", "2", "--", "true"])
    assert args.timeout == launch.TIMEOUT_S and 0 < launch.TIMEOUT_S < float("inf")
    with pytest.raises(FinetuneError, match="--timeout 0: give a positive number of seconds"):
        launch.parse(["--workers", "2", "--timeout", "0", "--", "true"])


def test_a_scheduled_worker_that_hangs_is_stopped_at_the_timeout_with_what_it_started(tmp_path):
    """--from-scheduler supervises its one worker as local workers are: past --timeout it and the processes it
    started are stopped, and one line names the worker (SLURM_PROCID) and the limit."""
    scontrol = tmp_path / "scontrol"  # Slurm's, standing in: the job's one host
    scontrol.write_text("#!/bin/sh\necho localhost\n")
    scontrol.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "SLURM_PROCID": "0", "SLURM_NTASKS": "1",
           "SLURM_JOB_NODELIST": "localhost"}
    done = subprocess.run([sys.executable, "-m", "bench.launch", "--from-scheduler", "--port", "29999", "--timeout",
                           "2", "--", "sh", "-c", f"sleep 600 & echo $! > {tmp_path}/child; wait"],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert done.returncode == launch.TIMEOUT_STATUS, done.stderr
    assert done.stderr.strip().splitlines() == [
        "bench.launch: --timeout 2 s passed with worker(s) 0 still running: stopped it with its process group (a "
        "hang, or a run longer than the timeout: raise --timeout)"]
    assert dead(int((tmp_path / "child").read_text()))


def test_a_launcher_stopped_by_sigterm_stops_its_workers_and_what_they_started(tmp_path):
    """A CI job's own limit ends the launcher with SIGTERM: its workers (in sessions of their own) must not outlive
    it, nor what they started."""
    script = f"sleep 600 & echo $! > {tmp_path}/child$KERAS_DISTRIBUTION_PROCESS_ID; wait"
    launcher = subprocess.Popen([sys.executable, "-m", "bench.launch", "--workers", "2", "--", "sh", "-c", script],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        children = [tmp_path / f"child{i}" for i in range(2)]
        deadline = time.monotonic() + 30
        while not all(c.exists() and c.read_text().strip() for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        launcher.terminate()
        _, err = launcher.communicate(timeout=60)
    finally:
        launcher.kill()
    assert launcher.returncode == 130 and err.strip().splitlines() == ["bench.launch: interrupted: stopped every "
                                                                       "worker"]
    assert all(dead(int(c.read_text())) for c in children)


def dead(pid: int, within_s: float = 10.0) -> bool:
    """No longer running (gone, or a zombie nobody reaped), within `within_s`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done, _ = run_launcher("--workers", "2", "--port", str(port), "--", sys.executable, "-c", "pass")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"bench.launch: --port {port}: port {port} is already in use on this host; pass "
                                   "another --port, or leave it out to have free ports picked")


@pytest.mark.parametrize("args, says", [
    (["--workers", "1", "--", "true"], "a multi-worker run has 2 or more"),
    (["--workers", "2"], "no command to run"),
    (["--workers", "2", "--from-scheduler", "--", "true"], "pass one of --workers N"),
    (["--from-scheduler", "--port", "1234", "--", "true"], "SLURM_PROCID, SLURM_NTASKS, SLURM_JOB_NODELIST not set"),
])
def test_bad_launches_are_one_line(args, says, monkeypatch):
    for name in ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_JOB_NODELIST"):
        monkeypatch.delenv(name, raising=False)
    done, _ = run_launcher(*args)
    assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_world_reads_tf_config_and_keras_variables_alike():
    env = cluster.environment_for(["h0:1", "h1:2"], 1)
    by_tf = cluster.World.from_env({"TF_CONFIG": env["TF_CONFIG"]})
    by_keras = cluster.World.from_env({k: v for k, v in env.items() if k != "TF_CONFIG"})
    assert (by_tf.workers, by_tf.index, by_tf.chief) == (2, 1, False) == (by_keras.workers, by_keras.index,
                                                                          by_keras.chief)
    assert by_tf.addresses == ("h0:1", "h1:2") and by_keras.addresses == ("h0:1",)
    assert cluster.World.from_env({}) == cluster.World() and not cluster.World().distributed
    tfjob = json.dumps({"cluster": {"chief": ["c:1"], "worker": ["w:1", "w:2"]}, "task": {"type": "worker", "index": 0}})
    assert cluster.World.from_env({"TF_CONFIG": tfjob}).index == 1  # TFJob's chief is worker 0


@pytest.mark.parametrize("environ, says", [
    ({"TF_CONFIG": "{not json"}, "TF_CONFIG is not a tf.distribute cluster"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}})},
     "worker 3 of 1 is not a worker"),
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, "KERAS_DISTRIBUTION_JOB_ADDRESSES, KERAS_DISTRIBUTION_PROCESS_ID not set"),
])
def test_a_bad_world_is_one_line(environ, says):
    with pytest.raises(FinetuneError, match=says):
        cluster.World.from_env(environ)


class Collator:
    """Pads each row's ids to the batch's longest with zeros, as DataCollatorWithPadding does."""

    def __call__(self, rows):
        longest = max(len(row["input_ids"]) for row in rows)
        return {name: [list(row[name]) + [0] * (longest - len(row[name])) for row in rows]
                for name in ("attention_mask", "input_ids", "token_type_ids")}


def split_of(lengths):
    ids = [list(range(1, n + 1)) for n in lengths]
    return _Split({"input_ids": ids, "attention_mask": [[1] * n for n in lengths],
                   "token_type_ids": [[0] * n for n in lengths], "label": list(range(len(lengths)))})


class _Split(dict):
    features = {"label": type("Feature", (), {"dtype": "int64"})()}


def test_the_workers_parts_of_a_global_batch_are_the_one_process_batch():
    lengths = [3, 9, 4, 7, 5, 2, 8, 6, 3, 4, 5, 6]
    whole = NumpyBatches(split_of(lengths), Collator(), 4, shuffle=True, seed=1)
    parts = [NumpyBatches(split_of(lengths), Collator(), 4, shuffle=True, seed=1, shard=(i, 2)) for i in range(2)]
    for epoch in range(2):
        for index in range(len(whole)):
            features, labels = whole[index]
            pieces = [part[index] for part in parts]
            assert [len(p[1]) for p in pieces] == [2, 2]
            assert np.array_equal(np.concatenate([p[1] for p in pieces]), labels)
            for name, matrix in features.items():  # the global batch's padded length in every part
                assert np.array_equal(np.concatenate([p[0][name] for p in pieces]), matrix)
        for batches in (whole, *parts):
            batches.new_epoch()


def test_a_batch_that_does_not_split_over_the_workers_is_one_line():
    with pytest.raises(FinetuneError, match="a batch of 3 rows does not split over 2 workers"):
        NumpyBatches(split_of([3, 4, 5, 6, 7, 8, 9]), Collator(), 4, shard=(0, 2))  # batches of 4 and 3


def test_a_world_knows_its_hosts_only_where_it_names_every_worker():
    """The multi-worker benchmarks claim no speed, and let the others sleep while the chief times alone, on one
    host only: a world's hosts are counted from every worker's address, and unknown from a coordinator alone."""
    local = cluster.World.from_env(cluster.environment_for(["127.0.0.1:5000", "127.0.0.1:5001"], 1))
    assert local.hosts == 1
    spread = cluster.from_tf_config(json.dumps({"cluster": {"worker": ["a:1", "b:1", "a:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert spread.hosts == 2
    keras_only = {name: value for name, value in cluster.environment_for(["a:1", "b:1"], 0).items()
                  if name != "TF_CONFIG"}
    assert cluster.World.from_env(keras_only).hosts is None and cluster.World().hosts is None
