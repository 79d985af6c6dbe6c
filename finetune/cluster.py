"""The world a process runs in: how many workers fine-tune together, which one this is, and where they meet. Read
once, from the environment a launcher or a cluster scheduler gives (bench/launch/cli.py sets all of these):

    TF_CONFIG                              tf.distribute's: {"cluster": {"worker": ["host:port", ...]},
                                           "task": {"type": "worker", "index": i}} (TFJob on Kubernetes sets it)
    KERAS_DISTRIBUTION_JOB_ADDRESSES       Keras 3's (keras.distribution.initialize): the coordinator's host:port
    KERAS_DISTRIBUTION_NUM_PROCESSES       (worker 0's address first), the number of processes and this one's id
    KERAS_DISTRIBUTION_PROCESS_ID

Worker 0 is the chief: it alone writes results. One process, none of these set: a world of one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from finetune.errors import FinetuneError

KERAS_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                   "KERAS_DISTRIBUTION_PROCESS_ID")


@dataclass(frozen=True)
class World:
    workers: int = 1
    index: int = 0  # this process's worker number; 0 is the chief
    addresses: tuple = ()  # host:port of every worker, in order (TF_CONFIG), or the coordinator's alone (Keras 3)
    source: str = "one process"  # where it was read from

    def __post_init__(self):
        if self.workers < 1 or not 0 <= self.index < self.workers:
            raise FinetuneError(f"{self.source}: worker {self.index} of {self.workers} is not a worker of the "
                                "world; the index must be 0 to workers - 1")

    @property
    def chief(self) -> bool:
        return self.index == 0

    @property
    def distributed(self) -> bool:
        return self.workers > 1

    @property
    def hosts(self) -> int | None:
        """How many hosts the workers are on; None where the world names its coordinator alone (Keras 3's
        variables without TF_CONFIG), so the others' hosts are unknown."""
        if len(self.addresses) != self.workers:
            return None
        return len({address.rsplit(":", 1)[0] for address in self.addresses})

    def describe(self) -> str:
        return f"worker {self.index} of {self.workers} ({self.source})" if self.distributed else "one process"

    @classmethod
    def from_env(cls, environ=None) -> "World":
        environ = os.environ if environ is None else environ
        if environ.get("TF_CONFIG"):
            return from_tf_config(environ["TF_CONFIG"])
        if any(environ.get(name) for name in KERAS_VARIABLES):
            return from_keras(environ)
        return cls()


def from_tf_config(text: str) -> World:
    """TF_CONFIG's cluster and task. A "chief" entry (TFJob's) counts as worker 0, before the "worker" entries."""
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        addresses = tuple(cluster.get("chief", [])) + tuple(cluster.get("worker", []))
        offset = {"chief": 0, "worker": len(cluster.get("chief", []))}[task["type"]]
        index = offset + int(task["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise FinetuneError(f"TF_CONFIG is not a tf.distribute cluster ({err.__class__.__name__}: {err}): expected "
                            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}') from None
    return World(len(addresses), index, addresses, "TF_CONFIG")


def from_keras(environ) -> World:
    missing = [name for name in KERAS_VARIABLES if not environ.get(name)]
    if missing:
        raise FinetuneError(f"{', '.join(missing)} not set: Keras 3's multi-process run needs all of "
                            f"{', '.join(KERAS_VARIABLES)} (python -m bench.launch sets them)")
    try:
        workers, index = int(environ[KERAS_VARIABLES[1]]), int(environ[KERAS_VARIABLES[2]])
    except ValueError:
        raise FinetuneError(f"{KERAS_VARIABLES[1]} and {KERAS_VARIABLES[2]} must be whole numbers, got "
                            f"{environ[KERAS_VARIABLES[1]]!r} and {environ[KERAS_VARIABLES[2]]!r}") from None
    addresses = tuple(environ[KERAS_VARIABLES[0]].split(","))
    return World(workers, index, addresses, "KERAS_DISTRIBUTION_*")


def environment_for(addresses: list[str], index: int) -> dict:
    """The variables that make a process worker `index` of the world at `addresses` (the chief's first), for
    either engine: TF_CONFIG for tf-keras, KERAS_DISTRIBUTION_* for keras3-jax (whose coordinator is worker 0's)."""
    return {
        "TF_CONFIG": json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}}),
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": addresses[0],
        "KERAS_DISTRIBUTION_NUM_PROCESSES": str(len(addresses)),
        "KERAS_DISTRIBUTION_PROCESS_ID": str(index),
    }



def check(distribute: str, world: World) -> None:
    """A world and a distribution that do not fit: one line. Several workers each training alone would waste the
    world; a multi-worker run in one process has no peers."""
    if world.distributed and distribute != "multi-worker":
        raise FinetuneError(f"this process is {world.describe()} but --distribute is {distribute}: every worker "
                            "would train alone; pass --distribute multi-worker")
    if distribute == "multi-worker" and not world.distributed:
        raise FinetuneError("--distribute multi-worker needs workers: python -m bench.launch --workers 2 -- "
                            "python -m finetune --distribute multi-worker ...")
