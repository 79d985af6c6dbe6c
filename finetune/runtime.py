"""Process-wide state for one run, set in one place from the config: seeds, device placement, the
mixed-precision policy and the distribution strategy; the policy is restored when the run's block exits.
"""

from __future__ import annotations

import contextlib
import functools

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from finetune import perf
from finetune.hardware import Host
from finetune.errors import FinetuneError


def logical_device(kind: str):
    """TensorFlow's first logical device of `kind` ("cpu" or "gpu"), or a clear error."""
    import tensorflow as tf

    found = tf.config.list_logical_devices(kind.upper())
    if not found:
        raise FinetuneError(f"--device {kind}: TensorFlow sees no {kind.upper()}; use --device cpu or auto")
    return found[0]


def device_kind(device: str, host: Host | None = None) -> str:
    """"cpu" or "gpu": what `device` ("auto", "cpu", "gpu") runs on `host` (default: this machine)."""
    if device != "auto":
        return device
    return "gpu" if (host or Host.here()).gpus else "cpu"


def replica_devices(device: str) -> list[str]:
    """Every logical device of the run's kind: the replicas of a MirroredStrategy."""
    import tensorflow as tf

    kind = device_kind(device)
    logical_device(kind)  # a clear error when there is none
    return [found.name for found in tf.config.list_logical_devices(kind.upper())]


# Each collective waits at most this long for its peers: a worker that vanished on another host is then an error
# on the others, not a hang (on one host bench.launch stops them sooner).
COLLECTIVE_TIMEOUT_S = 600


@functools.cache
def multi_worker_strategy():
    """The process's one MultiWorkerMirroredStrategy over the world in TF_CONFIG (finetune/cluster.py): RING
    collectives on CPUs, NCCL on GPUs. TensorFlow configures collective ops once, before its first op, so the
    engine makes it when the process starts (TfKeras.prepare_process), before the calibration's ops."""
    import tensorflow as tf

    implementation = getattr(tf.distribute.experimental.CommunicationImplementation, multi_worker_collective())
    options = tf.distribute.experimental.CommunicationOptions(implementation=implementation,
                                                              timeout_seconds=COLLECTIVE_TIMEOUT_S)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def multi_worker_collective(kind: str | None = None) -> str:
    """The all-reduce implementation of multi_worker_strategy() for workers on `kind` ("cpu" or "gpu"): NCCL
    between GPUs, RING (over gRPC) between CPUs. None: this process's, NCCL where TensorFlow sees a GPU. The one
    place the choice is made: a record's collective is judged against it for the record's device."""
    if kind is None:
        import tensorflow as tf

        kind = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return "NCCL" if kind == "gpu" else "RING"


@functools.cache
def mirrored_strategy(devices: tuple):
    """One MirroredStrategy per set of devices for the whole process. TensorFlow keeps collective ops' state
    process-wide, keyed by group and instance key, and a second strategy over the same devices numbers its
    collectives from the start again: its all-reduces then meet the first one's ("Shape mismatch in the
    collective instance ..."), as when two benchmarks each build a mirrored model in one session."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(devices))


def placement(device: str, strategy=None):
    """A factory of the context that places ops and variables for `device` ("auto": TensorFlow decides) or under
    `strategy`: entered by configured() for set-up, and again by whoever steps the model later (StepBench)."""
    if strategy is not None:
        return strategy.scope
    if device == "auto":
        return contextlib.nullcontext
    import tensorflow as tf

    name = logical_device(device).name
    return lambda: tf.device(name)


@contextlib.contextmanager
def configured(seed: int, device: str = "auto", precision: str | None = None, distribute: str = "none",
               host: Host | None = None):
    """Seed Python, NumPy and TensorFlow, and pin ops and variables to `device` (auto: TF decides).

    precision: set Keras' global mixed-precision policy for the block (layers take it when they are built)
    and restore the previous policy on exit; None leaves the policy alone.
    distribute="mirrored": build inside a MirroredStrategy over every device of the kind, yielded to the block;
    "multi-worker": inside the process's MultiWorkerMirroredStrategy (otherwise None is yielded).
    host: the described machine whose capabilities decide which precisions run (default: this one).
    """
    import tf_keras as keras

    if precision is not None:
        problem = perf.unsupported_precision(precision, device_kind(device, host), host)
        if problem:
            raise FinetuneError(f"--precision {problem}")
    keras.utils.set_random_seed(seed)
    if distribute not in perf.DISTRIBUTES:
        raise FinetuneError(f"unknown distribute {distribute!r}: choose one of {', '.join(perf.DISTRIBUTES)}")
    strategy = {"mirrored": lambda: mirrored_strategy(tuple(replica_devices(device))),
                "multi-worker": multi_worker_strategy, "none": lambda: None}[distribute]()
    previous_policy = keras.mixed_precision.global_policy()
    if precision is not None:
        keras.mixed_precision.set_global_policy(precision)
    try:
        with placement(device, strategy)():
            yield strategy
    finally:
        if precision is not None:
            keras.mixed_precision.set_global_policy(previous_policy)
