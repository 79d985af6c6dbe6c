"""The keras3 engine's performance variants (finetune/perf.py) as Keras 3 runs them on each backend: what runs
(`effective`) and what cannot (`unsupported`). Imports no framework."""

from __future__ import annotations

import dataclasses

from finetune.perf import PerfConfig

JAX_PAD_MULTIPLE = 8


def effective(perf: PerfConfig, backend: str) -> PerfConfig:
    """The configuration that runs on `backend` for `perf`: JAX compiles every step with XLA (its only compiled
    path), one program per batch shape, so its lengths are rounded up to JAX_PAD_MULTIPLE; the course's
    configuration elsewhere (no XLA) unless `perf` asks for it."""
    if backend != "jax":
        return perf
    changes = {}
    if perf.padding == "dynamic":
        changes.update(padding="multiple", pad_multiple=JAX_PAD_MULTIPLE)
    elif perf.pad_multiple is None:
        changes["pad_multiple"] = JAX_PAD_MULTIPLE
    runs = dataclasses.replace(perf, jit_compile=False, **changes)
    # set after validation: PerfConfig refuses XLA with mirrored for tf-keras's sake (merge_call); JAX runs both
    object.__setattr__(runs, "jit_compile", True)
    return runs


def unsupported(perf: PerfConfig, backend: str) -> str | None:
    """Why the keras3 engine cannot run `perf` on `backend` (None: it can)."""
    if perf.distribute == "mirrored" and backend != "jax":
        return (f"keras3-{backend}: Keras 3's data-parallel API (keras.distribution.DataParallel) runs on JAX only; "
                "--backend jax")
    if perf.distribute == "multi-worker" and backend != "jax":
        why = {"tensorflow": "Keras 3 does not train under MultiWorkerMirroredStrategy (keras-team/keras#20585)",
               "torch": "Keras 3 has no multi-process API on torch"}.get(backend, "no multi-process API")
        return f"keras3-{backend}: {why}; multi-worker runs on --engine tf-keras or --engine keras3 --backend jax"
    if perf.update != "dense":
        return (f"keras3-{backend}: --update {perf.update} is tf-keras's Adam (finetune/adam.py); Keras 3 applies its "
                "own optimizer inside the compiled train step")
    if perf.jit_compile and backend == "torch":
        return "keras3-torch: jit_compile is torch.compile there, not XLA; the torch backend runs eagerly"
    return None
