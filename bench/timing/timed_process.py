"""A worker of the A/B mode (bench.ab): in its own process, prepare the course's training step over the first training
rows, warm it up (one untimed pass), print a line `{"ready": ...}`, then time one whole pass for each line `pass`
read from stdin (`pass F`: that pass planted F slower) and print `{"ms_per_step": ...}`; `quit` (or the end of
stdin) ends it.

    python bench/timing/timed_process.py --batches 8 [--task mrpc] [--model minilm-l6] [--glue-dir DIR] [--batch-size 8] [--device auto]
                          [--seed 0] [--plant-slowdown F]

Run as a script (bench.timing.processes: the gated step time and the A/B mode) with the interpreter of the environment
under test and PYTHONPATH set to the source tree under test, so that `finetune` (and TensorFlow, transformers) come from that environment or revision. It
needs only what every revision since the A/B mode has: RunConfig, data.prepare and StepBench.timed_pass.

bench.tune runs it with `--perf V1,V2,... --sample lengths`: one bench per performance variant (finetune.perf) in
this process, all over the same rows, a sample that follows the task's lengths (steptime.length_sample); `pass V`
times V's. A variant this host or engine cannot run is named in the ready line's `skipped` (one line each), and the
others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench/timing/timed_process.py", description=__doc__.splitlines()[0])
    # Not from the option table (finetune/options.py add_to), on purpose: `finetune` here is the revision under test
    # (PYTHONPATH), whose finetune.options may lack add_to or be absent (the A/B mode times old revisions), or hold
    # other choices. Its command line is bench.timing.processes.block_options', from values this tree's tools have
    # already parsed with this tree's table; --perf is a comma-separated list here, not the table's one variant.
    parser.add_argument("--task", default="mrpc")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR"))
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plant-slowdown", type=float, default=0.0)
    parser.add_argument("--engine", default=None)  # a finetune.engines name; none: the default engine
    parser.add_argument("--backend", default=None)
    parser.add_argument("--perf", default=None, help="comma-separated finetune.perf variants (bench.tune)")
    parser.add_argument("--sample", choices=("first", "lengths"), default="first",
                        help="first: the first rows (the gated step time); lengths: rows that follow the task's lengths")
    args = parser.parse_args(argv)
    if args.perf is not None:
        return tune_worker(args, time.perf_counter())
    started = time.perf_counter()
    chosen = {} if args.engine is None else {"engine": args.engine, "backend": args.backend}

    import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
    from finetune import RunConfig, data, environment

    config = RunConfig(task=args.task, model=args.model, glue_dir=args.glue_dir, batch_size=args.batch_size, epochs=1,
                       max_train_samples=args.batches * args.batch_size, device=args.device, seed=args.seed, **chosen)
    try:
        from finetune import engines
    except ImportError:  # a revision from before finetune/engines (the A/B mode checks old ones out): its StepBench
        engines = None
    if engines is not None:
        engine = engines.get(config.engine, config.backend)
        engine.prepare_process()  # before anything imports the engine's framework (Keras 3's backend)
        bench = engine.step_bench(config, data.prepare(config), args.batches)
        versions = engine.versions()
    else:
        if args.backend:
            os.environ["KERAS_BACKEND"] = args.backend  # Keras 3 fixes its backend at its first import
        from importlib import import_module

        step_bench = import_module("finetune.keras3" if chosen else "finetune.steptime").StepBench
        bench = step_bench(config, data.prepare(config), args.batches)
        versions = environment.versions(args.engine) if chosen else environment.versions()
    try:  # the peak memory of this process's steps, reported with each pass (revisions before finetune.memory: none)
        from finetune import memory
    except ImportError:
        memory = None
    backend = engine.array_backend if engines is not None else "tensorflow"
    scope = memory.reset(backend) if memory is not None else None
    bench.timed_pass()  # untimed: tracing and per-shape set-up
    # what the record of a gated step time says of the work (older revisions, timed by the A/B mode, lack it)
    shape = bench.shape() if hasattr(bench, "shape") else None
    print(json.dumps({"ready": True, "rows": bench.rows, "batches": len(bench.batches), "shape": shape,
                      "versions": versions,
                      "fingerprint": environment.hardware_key(), "setup_s": time.perf_counter() - started}),
          flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] != "pass":
            break
        slowdown = float(words[1]) if len(words) > 1 else args.plant_slowdown  # `pass F`: this pass F slower
        begun = time.perf_counter()
        seconds = bench.timed_pass()
        if slowdown:  # the test hook of bench.sensitivity: this pass made F slower
            time.sleep(seconds * slowdown)
        ms = 1000.0 * (time.perf_counter() - begun) / len(bench.batches)
        # the peak so far of this process, which runs nothing but this step: the timed step's own memory (per row)
        print(json.dumps({"ms_per_step": ms, **(memory.peak(scope, backend) if memory is not None else {})}),
              flush=True)
    if hasattr(bench, "close"):  # revisions before engines have none
        bench.close()
    return 0


def tune_worker(args, started: float) -> int:
    """One bench per variant of --perf over one sample of rows; `pass V [F]` times V's pass (F: planted slower)."""
    import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
    from finetune import RunConfig, data, engines, environment, perf, steptime
    from finetune.errors import FinetuneError

    engine = engines.get(args.engine or "tf-keras", args.backend)
    engine.prepare_process()
    rows = args.batches * args.batch_size
    base = RunConfig(task=args.task, model=args.model, glue_dir=args.glue_dir, batch_size=args.batch_size, epochs=1,
                     max_train_samples=None if args.sample == "lengths" else rows, device=args.device, seed=args.seed,
                     engine=engine.name, backend=engine.backend)
    prepared = data.prepare(base)
    prepared = steptime.length_sample(prepared, rows, args.seed) if args.sample == "lengths" else prepared
    kind = engine.device_kind(None if args.device == "auto" else args.device)
    benches, skipped, described = {}, {}, {}
    for name in args.perf.split(","):
        try:
            variant = perf.variant(name, kind)
            problem = perf.unsupported_precision(variant.precision, kind) or engine.unsupported(variant)
            if problem:
                raise FinetuneError(problem)
            bench = engine.step_bench(base.replace(perf=variant), prepared, args.batches)
            began = time.perf_counter()
            bench.timed_pass()  # untimed: tracing, and XLA's compile for every shape
            first_s = time.perf_counter() - began
        except FinetuneError as err:
            skipped[name] = str(err)
            continue
        benches[name] = bench
        shapes = getattr(bench, "shapes", None)  # the distinct input shapes: what XLA compiles for
        described[name] = {"shape": bench.shape(), "shapes": None if shapes is None else len(shapes),
                           "changes_numerics": variant.changes_numerics, "first_pass_s": first_s}
    for bench in benches.values():  # untimed again, each after the others: the first pass back on a bench after
        bench.timed_pass()  # the others' was measured 3x slower (1627 against 533 ms/step), caches refilled
    print(json.dumps({"ready": True, "variants": described, "skipped": skipped, "versions": engine.versions(),
                      "engine": engine.label, "fingerprint": environment.hardware_key(kind),
                      "setup_s": time.perf_counter() - started}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) < 2 or words[0] != "pass" or words[1] not in benches:
            break
        bench = benches[words[1]]
        slowdown = float(words[2]) if len(words) > 2 else 0.0
        begun = time.perf_counter()
        seconds = bench.timed_pass()
        if slowdown:  # the test hook of bench.tune: this pass made F slower
            time.sleep(seconds * slowdown)
        print(json.dumps({"ms_per_step": 1000.0 * (time.perf_counter() - begun) / len(bench.batches)}), flush=True)
    for bench in benches.values():
        bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
