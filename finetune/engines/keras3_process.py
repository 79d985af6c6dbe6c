"""Keras 3 in this process, for the keras3 engine: its backend (fixed at its first import), the devices it runs on,
and the process state of a run (seed, dtype policy, distribution). Imports Keras 3 inside its functions only."""

from __future__ import annotations

import contextlib
import os

from finetune.engines.keras3_variants import effective, unsupported
from finetune.errors import FinetuneError
from finetune.perf import PerfConfig, unsupported_precision


GPU_PLATFORMS = ("cuda", "gpu", "rocm")


def check_accelerator(backend: str) -> None:
    """Where JAX_PLATFORMS (jax) or KERAS_TORCH_DEVICE (torch) asks for the GPU, one line when it is not usable:
    never a silent fall back to the CPU."""
    platforms = [p.strip() for p in os.environ.get("JAX_PLATFORMS", "").split(",") if p.strip()]
    if backend == "jax" and platforms and all(p in GPU_PLATFORMS for p in platforms):
        import jax

        try:
            jax.devices()
        except Exception as err:  # noqa: BLE001  (RuntimeError, or jax 0.10's AssertionError for a missing plugin)
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else err.__class__.__name__
            raise FinetuneError(f"JAX_PLATFORMS={os.environ['JAX_PLATFORMS']}: JAX cannot use the GPU ({first}); "
                                "install jax with its CUDA plugin (pip install 'jax[cuda13]') and check the driver "
                                "(nvidia-smi), or leave JAX_PLATFORMS unset to run on the CPU") from None
    if backend == "torch" and os.environ.get("KERAS_TORCH_DEVICE", "").startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise FinetuneError(f"KERAS_TORCH_DEVICE={os.environ['KERAS_TORCH_DEVICE']}: torch {torch.__version__} "
                                "sees no usable CUDA device (torch.cuda.is_available() is False); install a CUDA build "
                                "of torch and check the driver (nvidia-smi), or leave KERAS_TORCH_DEVICE unset")


def device_kind(backend: str) -> str:
    """Where Keras 3 on `backend` runs its ops: "gpu" where the backend sees one, else "cpu" (it places them
    itself: the engine has no --device of its own)."""
    if backend == "jax":
        import jax

        return "gpu" if jax.default_backend() in ("gpu", "cuda", "rocm") else "cpu"
    if backend == "torch":
        chosen = os.environ.get("KERAS_TORCH_DEVICE")  # Keras 3's torch backend places everything there
        if chosen:
            return "gpu" if chosen.startswith("cuda") else "cpu"
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"

def replica_devices(backend: str) -> list:
    """The devices DataParallel spreads a batch over (JAX's, of its default kind)."""
    if backend != "jax":
        return []
    keras = keras_for(backend)
    return keras.distribution.list_devices()


@contextlib.contextmanager
def configured(config):
    """Process state for building and training `config` (config.perf as it runs on its backend): Keras 3's seed,
    its dtype policy and its distribution, restored after. Yields the replicas."""
    keras = keras_for(config.backend)
    perf = effective(config.perf, config.backend)
    problem = unsupported(perf, config.backend) or unsupported_precision(perf.precision, device_kind(config.backend))
    if problem:
        raise FinetuneError(problem)
    policy, distribution = keras.config.dtype_policy(), keras.distribution.distribution()
    replicas = 1
    try:
        keras.utils.set_random_seed(config.seed)
        keras.config.set_dtype_policy(perf.precision)
        if perf.distribute in ("mirrored", "multi-worker"):  # every process's devices (jax.devices() is global)
            devices = replica_devices(config.backend)
            replicas = len(devices)
            if config.batch_size % replicas:
                raise FinetuneError(f"--batch-size {config.batch_size} does not split over {replicas} replicas: "
                                    f"pass a multiple of {replicas}")
            parallel = keras.distribution.DataParallel(devices=devices)
            parallel.auto_shard_dataset = False  # a worker's batches are its own part already (numpy_batches)
            keras.distribution.set_distribution(parallel)
        yield replicas
    finally:
        keras.config.set_dtype_policy(policy)
        keras.distribution.set_distribution(distribution)


def keras_for(backend: str):
    """Keras 3 on `backend`: set KERAS_BACKEND before its first import, or refuse a process whose Keras already
    runs another backend."""
    os.environ.setdefault("KERAS_BACKEND", backend)
    try:
        import keras
        import keras_hub  # noqa: F401  (installed: a missing one is the same one-line error)
    except ImportError as err:
        raise FinetuneError(f"the keras3 engine needs Keras 3 and keras-hub ({err.name} is missing): "
                            "FINETUNE_EXTRAS=report,keras3 python3 dev.py test (or pip install -e '.[keras3]' and "
                            "pip install --no-deps keras-hub==0.32.0)") from None
    if keras.config.backend() != backend:
        raise FinetuneError(f"Keras 3 in this process runs on {keras.config.backend()}, not {backend}: its backend "
                            f"is fixed at import (KERAS_BACKEND={os.environ.get('KERAS_BACKEND')}); run each backend "
                            "in a process of its own")
    return keras

def check_device(config) -> None:
    """--device must be auto or the kind the backend runs on: Keras 3 places ops itself."""
    kind = device_kind(config.backend)
    if config.device not in ("auto", kind):
        raise FinetuneError(f"keras3-{config.backend} runs on this machine's {kind}, not {config.device}: Keras 3 "
                            "places ops as its backend does; pass --device auto (or leave it out)")


def collective(backend: str, kind: str | None = None) -> str | None:
    """The all-reduce of Keras 3's multi-worker runs on `backend` and `kind` ("cpu" or "gpu"; None: where this
    process runs), None where it has none."""
    if unsupported(PerfConfig(distribute="multi-worker"), backend):
        return None
    # jax.distributed's CPU collectives are gloo's (JAX's default since 0.5.1); on GPUs, NCCL's
    return "gloo" if (kind or device_kind(backend)) == "cpu" else "NCCL"
