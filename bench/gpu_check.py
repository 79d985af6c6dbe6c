"""The GPU check without TensorFlow: Keras 3 + keras-hub on JAX or PyTorch, for a GPU machine that has those (with
CUDA) but neither TensorFlow nor this suite's other packages. Standalone: it imports nothing of finetune/ or bench/.

    python bench/gpu_check.py wheels out/gpu-wheels          # here, where PyPI is reachable: the wheels it carries
    python bench/gpu_check.py run --wheels out/gpu-wheels --out out/gpu [--backends jax torch] [--weights DIR]
                                  [--glue-dir DIR]            # there: installs them beside its JAX and torch, measures

`run` makes a virtual environment that sees the machine's own packages (JAX, torch, CUDA), installs the carried
wheels into it without the network (keras-hub with --no-deps: it declares tensorflow-text), then measures each
backend in a process of its own (Keras 3 fixes its backend at import) and writes <out>/gpu_check.json:

- step time: a randomly initialised bert-base-uncased (12 layers, 768 hidden; a step's time does not depend on the
  weights) under BertTextClassifier, the course's loss and optimizer, at batch 8 and 32, float32 and
  mixed_bfloat16, on synthetic token ids of one padded length (--length, default 128): fit()'s steps after the
  warm-up ones (XLA's compile on JAX), as ms/step and examples/s, with the device's peak memory;
- quality, where the weights can travel (--weights: a Hugging Face BERT folder with config.json,
  model.safetensors and tokenizer.json; --glue-dir: GLUE's MRPC): the course's recipe for --epochs on MRPC,
  accuracy and F1 on its validation split. Without them it says so in the JSON and on stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path

KERAS = "keras==3.15.1"
KERAS_HUB = "keras-hub==0.32.0"  # --no-deps: it declares tensorflow-text and kagglesdk, which this does not import
# What Keras 3 and keras-hub import beyond JAX's or torch's own packages (numpy, ml_dtypes): small wheels.
SMALL = ("absl-py", "h5py", "namex", "optree", "rich", "markdown-it-py", "mdurl", "pygments", "regex", "packaging",
         "sentencepiece<0.2.2", "tokenizers==0.21.4", "safetensors")
PYTHON = "3.12"  # the GPU machines' Python
BERT_BASE = {"vocabulary_size": 30522, "num_layers": 12, "num_heads": 12, "hidden_dim": 768, "intermediate_dim": 3072,
             "max_sequence_length": 512}
TINY = {"vocabulary_size": 30522, "num_layers": 2, "num_heads": 2, "hidden_dim": 64, "intermediate_dim": 128,
        "max_sequence_length": 512}  # for checking this script on a CPU


def fail(message: str) -> int:
    print(f"gpu_check: {message}", file=sys.stderr)
    return 2


# --- here: the wheels ------------------------------------------------------------------------------------------
def wheels(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--dest", str(folder),
            "--only-binary=:all:", "--python-version", PYTHON, "--platform", "manylinux2014_x86_64",
            "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux_2_28_x86_64"]
    for packages, deps in (((KERAS_HUB, KERAS), False), (SMALL, False)):
        done = subprocess.run([*base, *([] if deps else ["--no-deps"]), *packages])
        if done.returncode:
            return fail(f"pip download failed for {', '.join(packages)}")
    total = sum(p.stat().st_size for p in folder.glob("*.whl"))
    print(f"gpu_check: {len(list(folder.glob('*.whl')))} wheels, {total / 2 ** 20:.1f} MiB in {folder}")
    return 0


# --- there: the environment, then one process per backend ------------------------------------------------------
def run(args) -> int:
    if not args.wheels.is_dir():
        return fail(f"--wheels {args.wheels}: no such folder; make it where PyPI is reachable: "
                    f"python bench/gpu_check.py wheels {args.wheels}")
    env_dir = args.out / "venv"
    python = env_dir / "bin" / "python"
    if not python.exists():
        venv.create(env_dir, system_site_packages=True, with_pip=True)  # sees the machine's JAX, torch and CUDA
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
               "--find-links", str(args.wheels)]
        for packages in ((KERAS, *SMALL), (KERAS_HUB,)):
            done = subprocess.run([*pip, "--no-deps", *packages])
            if done.returncode:
                return fail(f"installing {', '.join(packages)} from {args.wheels} failed")
    results = {}
    for backend in args.backends:
        out = args.out / f"{backend}.json"
        command = [str(python), __file__, "measure", "--backend", backend, "--json", str(out),
                   "--length", str(args.length), "--steps", str(args.steps), "--config", args.config,
                   "--epochs", str(args.epochs)]
        for flag, value in (("--weights", args.weights), ("--glue-dir", args.glue_dir),
                            ("--max-train-samples", args.max_train_samples),
                            ("--max-eval-samples", args.max_eval_samples)):
            if value is not None:
                command += [flag, str(value)]
        done = subprocess.run(command, env={**os.environ, "KERAS_BACKEND": backend})
        results[backend] = (json.loads(out.read_text()) if done.returncode == 0 and out.exists()
                            else {"error": f"exit {done.returncode}"})
    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"gpu_check: wrote {args.out / 'gpu_check.json'}")
    return 0 if all("error" not in r for r in results.values()) else 1


# --- one backend: the measurements -----------------------------------------------------------------------------
def device_of(backend: str) -> dict:
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return {"platform": device.platform, "name": getattr(device, "device_kind", str(device)),
                "count": len(jax.devices())}
    import torch

    if torch.cuda.is_available():
        return {"platform": "gpu", "name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
    return {"platform": "cpu", "name": "cpu", "count": 1}


def peak_memory_mb(backend: str) -> float | None:
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return stats["peak_bytes_in_use"] / 2 ** 20 if "peak_bytes_in_use" in stats else None
    import torch

    return torch.cuda.max_memory_allocated() / 2 ** 20 if torch.cuda.is_available() else None


def reset_peak(backend: str) -> None:
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()


def classifier(keras, keras_hub, config: dict, steps: int, backbone=None):
    """The course's model and recipe on Keras 3: BertTextClassifier, from_logits, Adam with 5e-5 decaying to 0."""
    backbone = backbone or keras_hub.models.BertBackbone(**config)
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    schedule = keras.optimizers.schedules.PolynomialDecay(5e-5, steps, end_learning_rate=0.0)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=keras.config.backend() == "jax")  # XLA on JAX; torch runs eagerly
    return model


def step_times(keras, keras_hub, backend: str, config: dict, batch: int, precision: str, length: int,
               steps: int) -> dict:
    """fit() over `steps` + warm-up batches of synthetic ids at one length; the steps after the warm-up timed."""
    import numpy as np

    warmup = 3
    rows = batch * (steps + warmup)
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1000, config["vocabulary_size"], (rows, length)).astype("int32"),
         "segment_ids": np.zeros((rows, length), "int32"), "padding_mask": np.ones((rows, length), bool)}
    y = rng.integers(0, 2, rows).astype("int32")
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        model = classifier(keras, keras_hub, config, steps + warmup)
    finally:
        keras.config.set_dtype_policy("float32")
    times: list = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, index, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, index, logs=None):
            float(logs["loss"])  # the step has finished on the device
            times.append(time.perf_counter() - self.started)

    reset_peak(backend)
    # keras.Model's own fit(): keras-hub's (PipelineModel) turns arrays into a tf.data or grain pipeline first
    keras.Model.fit(model, x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[Timer()])
    timed = times[warmup:]
    ms = 1000.0 * statistics.fmean(timed)
    return {"batch_size": batch, "precision": precision, "length": length, "steps_timed": len(timed),
            "first_step_s": times[0], "ms_per_step": ms, "median_ms": 1000.0 * statistics.median(timed),
            "examples_per_s": batch * 1000.0 / ms, "peak_device_memory_mb": peak_memory_mb(backend),
            "parameters": int(model.count_params())}


def mrpc(glue_dir: Path, split: str, limit: int | None) -> tuple:
    """(sentence pairs, labels) of GLUE's MRPC in the download layout (train.tsv, dev.tsv)."""
    path = glue_dir / "MRPC" / ("train.tsv" if split == "train" else "dev.tsv")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    rows = rows[:limit] if limit else rows
    return [(row[3], row[4]) for row in rows], [int(row[0]) for row in rows]


def batches(tokenizer, pairs, labels, batch: int, multiple: int = 8):
    """The pairs tokenized, in batches padded to their longest pair rounded up to `multiple` (few shapes: XLA)."""
    import numpy as np

    encoded = tokenizer.encode_batch(pairs)
    for start in range(0, len(encoded), batch):
        chunk = encoded[start:start + batch]
        length = -(-max(len(e.ids) for e in chunk) // multiple) * multiple
        ids = np.zeros((len(chunk), length), "int32")
        segments = np.zeros_like(ids)
        mask = np.zeros((len(chunk), length), bool)
        for i, e in enumerate(chunk):
            ids[i, :len(e.ids)], segments[i, :len(e.ids)], mask[i, :len(e.ids)] = e.ids, e.type_ids, True
        yield {"token_ids": ids, "segment_ids": segments, "padding_mask": mask}, np.asarray(labels[start:start + batch])


def quality(keras, keras_hub, weights: Path, glue_dir: Path, epochs: int, limit: int | None,
            eval_limit: int | None) -> dict:
    """The course's recipe on MRPC from the weights' folder: accuracy and F1 on the validation split."""
    import numpy as np
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(weights / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    train_pairs, train_labels = mrpc(glue_dir, "train", limit)
    eval_pairs, eval_labels = mrpc(glue_dir, "validation", eval_limit)
    rng = np.random.default_rng(0)
    per_epoch = -(-len(train_pairs) // 8)
    keras.utils.set_random_seed(0)
    model = classifier(keras, keras_hub, None, per_epoch * epochs,
                       backbone=keras_hub.models.BertBackbone.from_preset(str(weights)))
    started = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(train_pairs))
        for x, y in batches(tokenizer, [train_pairs[i] for i in order], [train_labels[i] for i in order], 8):
            keras.Model.train_on_batch(model, x, y)  # keras.Model's: keras-hub's wants tf.data or grain
    trained = time.perf_counter() - started
    predicted = np.concatenate([np.argmax(np.asarray(keras.Model.predict_on_batch(model, x)), axis=-1)
                                for x, _ in batches(tokenizer, eval_pairs, eval_labels, 32)])
    labels = np.asarray(eval_labels)
    tp = int(((predicted == 1) & (labels == 1)).sum())
    f1 = 2 * tp / max(1, int((predicted == 1).sum()) + int((labels == 1).sum()))
    return {"accuracy": float((predicted == labels).mean()), "f1": f1, "epochs": epochs,
            "train_rows": len(train_pairs), "eval_rows": len(labels), "train_s": trained,
            "ms_per_step": 1000.0 * trained / (per_epoch * epochs)}


def measure(args) -> int:
    backend = os.environ.setdefault("KERAS_BACKEND", args.backend)
    if backend != args.backend:
        return fail(f"KERAS_BACKEND={backend} but --backend {args.backend}: one backend per process")
    try:
        import keras
        import keras_hub
    except ImportError as err:
        return fail(f"{err.name} is not installed: run `python bench/gpu_check.py run --wheels DIR` (it installs "
                    "the carried wheels)")
    config = {"bert-base": BERT_BASE, "tiny": TINY}[args.config]
    result = {"backend": backend, "device": device_of(backend), "config": args.config,
              "versions": {"keras": keras.__version__, "keras-hub": keras_hub.__version__,
                           backend: __import__(backend).__version__, "python": sys.version.split()[0]},
              "tensorflow_imported": sys.modules.get("tensorflow") is not None, "step_time": []}
    for precision in ("float32", "mixed_bfloat16"):
        for batch in (8, 32):
            row = step_times(keras, keras_hub, backend, config, batch, precision, args.length, args.steps)
            result["step_time"].append(row)
            print(f"gpu_check: {backend} on {result['device']['name']}: {args.config} batch {batch} {precision}: "
                  f"{row['ms_per_step']:.1f} ms/step, {row['examples_per_s']:.1f} examples/s", flush=True)
            keras.backend.clear_session()
    if args.weights and args.glue_dir:
        result["quality"] = quality(keras, keras_hub, args.weights, args.glue_dir, args.epochs,
                                    args.max_train_samples, args.max_eval_samples)
        print(f"gpu_check: {backend} quality: {result['quality']}", flush=True)
    else:
        result["quality"] = "not run: pass --weights (a BERT folder) and --glue-dir (GLUE's MRPC)"
    result["tensorflow_imported"] = sys.modules.get("tensorflow") is not None  # None: blocked
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python bench/gpu_check.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("wheels", help="download the wheels it carries").add_argument("folder", type=Path)
    for name in ("run", "measure"):
        sub = commands.add_parser(name, help={"run": "install the wheels and measure every backend",
                                              "measure": "measure one backend in this environment"}[name])
        sub.add_argument("--length", type=int, default=128, help="padded length of the step-time batches")
        sub.add_argument("--steps", type=int, default=20, help="timed steps per configuration")
        sub.add_argument("--config", choices=("bert-base", "tiny"), default="bert-base")
        sub.add_argument("--weights", type=Path, default=None)
        sub.add_argument("--glue-dir", type=Path, default=None)
        sub.add_argument("--epochs", type=int, default=1)
        sub.add_argument("--max-train-samples", type=int, default=None)
        sub.add_argument("--max-eval-samples", type=int, default=None)
    run_parser = commands.choices["run"]
    run_parser.add_argument("--wheels", type=Path, required=True)
    run_parser.add_argument("--out", type=Path, required=True)
    run_parser.add_argument("--backends", nargs="+", choices=("jax", "torch"), default=["jax", "torch"])
    measure_parser = commands.choices["measure"]
    measure_parser.add_argument("--backend", choices=("jax", "torch"), required=True)
    measure_parser.add_argument("--json", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.command == "wheels":
        return wheels(args.folder)
    if args.command == "run":
        args.out.mkdir(parents=True, exist_ok=True)
        return run(args)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
