"""A/B mode: is B's training step slower than A's? Two environments or revisions timed in alternating processes.

    python -m bench.ab --a-python .venv/bin/python --b-python ../venv-tf221/bin/python      # two environments
    python -m bench.ab --a-rev main~1 --b-rev main                                          # two git revisions
    python -m bench.ab ... --rounds 4 --batches 8 --passes 3 [--quality] [--json out/ab.json]

Each block is a fresh process (bench/block.py) that times `--passes` whole passes over the first `--batches`
prepared batches of the course's configuration, after an untimed pass. Blocks run in ABBA order (A B, B A, A B,
...) so that a drift in the machine's load falls on both sides alike; `--rounds` pairs in all. A process is the
independent unit: its mean log ms/step is one observation. B is judged against A with Welch's t-test on those
(bench.blocks.ab_test): the ratio B/A with its confidence interval, the one-sided p-value, the Mann-Whitney U test
beside it, and a verdict: SLOWER only when p < --alpha and the ratio is at least 1 + --min-effect.

An environment is a Python interpreter (a virtual environment's bin/python) with TensorFlow, tf-keras,
transformers and datasets installed; the source tree is this one unless a revision is given (`--a-rev`, `--b-rev`:
checked out with `git worktree` into a temporary folder; the revision must have bench/block.py's API, i.e. be
this commit or later). `--quality` also fine-tunes once in each (1 epoch over the first --quality-rows rows) and
prints both accuracies and F1. Exit status: 0 no slowdown, 1 B is slower, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import blocks

ROOT = Path(__file__).resolve().parent.parent
BLOCK = ROOT / "bench" / "block.py"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0],
                                     epilog="See the README, 'A/B mode', for a TensorFlow 2.20 against 2.21 example.")
    for side in ("a", "b"):
        parser.add_argument(f"--{side}-python", default=sys.executable,
                            help=f"interpreter of environment {side.upper()} (default: this one)")
        parser.add_argument(f"--{side}-rev", default=None,
                            help=f"git revision for {side.upper()} (default: this working tree)")
    parser.add_argument("--rounds", type=int, default=4, help="ABBA pairs of processes (default: 4, 8 processes)")
    parser.add_argument("--batches", type=int, default=8, help="prepared batches of 8 per pass (default: 8)")
    parser.add_argument("--passes", type=int, default=3, help="timed passes per process (default: 3)")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR"),
                        help="GLUE data in the download layout (default: $GLUE_DIR)")
    parser.add_argument("--alpha", type=float, default=blocks.ALPHA, help="one-sided significance level")
    parser.add_argument("--min-effect", type=float, default=blocks.MIN_EFFECT,
                        help="smallest slowdown reported (default: 0.05, 5%%)")
    parser.add_argument("--plant-slowdown-b", type=float, default=0.0,
                        help="test hook: make B's timed passes this fraction slower (bench.sensitivity)")
    parser.add_argument("--quality", action="store_true", help="also fine-tune once in each and print the quality")
    parser.add_argument("--quality-rows", type=int, default=800)
    parser.add_argument("--json", type=Path, default=None, help="write the blocks and the verdict here")
    args = parser.parse_args(argv)
    if args.rounds < 2 or args.batches < 1 or args.passes < 1:
        parser.error("--rounds must be at least 2 (a spread needs two processes a side); --batches and --passes "
                     "at least 1")
    for side in ("a", "b"):
        python = getattr(args, f"{side}_python")
        if not Path(python).is_file():
            parser.error(f"--{side}-python {python}: no such interpreter; give a virtual environment's bin/python")
    return args


class Side:
    """One environment: its interpreter and source tree."""

    def __init__(self, name: str, python: str, rev: str | None, workdir: Path):
        self.name, self.python, self.rev = name, python, rev
        self.tree = ROOT
        if rev is not None:
            self.tree = workdir / name
            done = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(self.tree), rev],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"error: --{name.lower()}-rev {rev}: {done.stderr.strip().splitlines()[-1]}")
        self.ms: list[list[float]] = []  # per process: the ms/step of each pass
        self.meta: dict = {}

    def env(self) -> dict:
        return {**os.environ, "PYTHONPATH": str(self.tree), "TF_CPP_MIN_LOG_LEVEL": "2"}

    def block(self, args, slowdown: float) -> None:
        command = [self.python, str(BLOCK), "--model", args.model, "--batches", str(args.batches),
                   "--passes", str(args.passes), "--plant-slowdown", str(slowdown)]
        if args.glue_dir:
            command += ["--glue-dir", args.glue_dir]
        done = subprocess.run(command, cwd=self.tree, env=self.env(), capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"error: a block of {self.name} ({self.python}) failed: {tail}")
        found = json.loads(lines[-1])
        self.ms.append(found["ms_per_step"])
        self.meta = {key: found[key] for key in ("versions", "fingerprint", "rows")}

    def quality(self, args) -> dict:
        with tempfile.TemporaryDirectory() as out:
            result = Path(out) / "result.json"
            command = [self.python, "-m", "finetune", "--model", args.model, "--epochs", "1",
                       "--max-train-samples", str(args.quality_rows), "--json", str(result)]
            if args.glue_dir:
                command += ["--glue-dir", args.glue_dir]
            done = subprocess.run(command, cwd=self.tree, env=self.env(), capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"error: the fine-tune of {self.name} failed: "
                                 f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}")
            found = json.loads(result.read_text())
        return {"accuracy": found["accuracy"], "f1": found["f1"], "ms_per_step": found["fit"]["ms_per_step"]}

    def process_means(self) -> list[float]:
        return [statistics.fmean(p) for p in self.ms]


def run(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as workdir:
        a = Side("A", args.a_python, args.a_rev, Path(workdir))
        b = Side("B", args.b_python, args.b_rev, Path(workdir))
        try:
            for i in range(args.rounds):
                for side in ((a, b) if i % 2 == 0 else (b, a)):  # ABBA: A B, B A, A B, ...
                    side.block(args, args.plant_slowdown_b if side is b else 0.0)
                    print(f"bench.ab: round {i + 1}/{args.rounds} {side.name}: "
                          f"{statistics.fmean(side.ms[-1]):.1f} ms/step", file=sys.stderr, flush=True)
            quality = {"A": a.quality(args), "B": b.quality(args)} if args.quality else None
        finally:
            for side in (a, b):
                if side.rev is not None:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(side.tree)],
                                   capture_output=True)
    verdict = blocks.ab_test(a.process_means(), b.process_means(), args.alpha, args.min_effect)
    return {"verdict": verdict.to_dict(), "described": verdict.describe(), "quality": quality,
            "A": {"python": a.python, "rev": a.rev, "ms_per_step": a.ms, **a.meta},
            "B": {"python": b.python, "rev": b.rev, "ms_per_step": b.ms, **b.meta},
            "settings": {k: getattr(args, k) for k in ("rounds", "batches", "passes", "model", "alpha", "min_effect",
                                                        "plant_slowdown_b")}}


def main(argv=None) -> int:
    args = parse_args(argv)
    found = run(args)
    for side in ("A", "B"):
        s = found[side]
        versions = ", ".join(f"{k} {v}" for k, v in s["versions"].items() if k in ("tensorflow", "tf_keras",
                                                                                   "transformers"))
        means = ", ".join(f"{statistics.fmean(p):.1f}" for p in s["ms_per_step"])
        print(f"{side}: {versions}{' @ ' + s['rev'] if s['rev'] else ''}; ms/step per process: {means}")
    if found["quality"]:
        for side, q in found["quality"].items():
            print(f"{side} quality: accuracy {q['accuracy']:.4f}, F1 {q['f1']:.4f} ({q['ms_per_step']:.0f} ms/step)")
    print(f"B against A: {found['described']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(found, indent=2) + "\n")
    return 1 if found["verdict"]["slower"] else 0


if __name__ == "__main__":
    sys.exit(main())
