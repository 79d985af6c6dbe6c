"""MirroredStrategy over two logical CPUs (in a fresh process, tests/mirrored_child.py): two replicas, the
course's batch of 8 is the global batch split 4 + 4, and a data-parallel step equals a single-device step."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("mirrored_child.py")


@pytest.fixture(scope="module")
def mirrored(generated_glue_dir):
    # No visible GPU: on a GPU host the CPU-pinned replicas must not meet an optimizer update placed on GPU:0.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(CHILD), str(generated_glue_dir)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_replicas_on_two_logical_cpus(mirrored):
    assert mirrored["replicas"] == mirrored["model_replicas"] == 2
    assert [device.rsplit("/", 1)[-1] for device in mirrored["devices"]] == ["device:CPU:0", "device:CPU:1"]


def test_the_batch_size_is_the_global_batch(mirrored):
    assert mirrored["global_batch"] == 8  # RunConfig.batch_size, the course's 8
    assert mirrored["replica_rows"] == [4, 4]  # each replica computes on 8 / 2 rows


def test_it_trains_like_one_device(mirrored):
    losses, single = mirrored["mirrored_losses"], mirrored["single_losses"]
    assert losses[-1] < losses[0] and mirrored["weights_changed"] > 0  # five steps on one batch: it learns
    assert mirrored["replicas_agree"]  # every replica holds the same weights after the updates
    # Gradients averaged over the replicas' halves are the global batch's gradient: the same steps.
    assert losses == pytest.approx(single, rel=1e-5)
    assert mirrored["cosine_to_single_device"] > 0.999
