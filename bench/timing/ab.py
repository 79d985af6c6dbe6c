"""A/B mode: is B's training step slower than A's? Two environments or revisions timed in alternating processes.

    python -m bench.ab --a-python .venv/bin/python --b-python /path/to/venv-tf221/bin/python      # two environments
    python -m bench.ab --a-rev main~1 --b-rev main                                          # two git revisions
    python -m bench.ab ... --workers 4 --rounds 4 --batches 6 [--quality] [--json out/ab.json]

Each side runs `--workers` processes (bench/timing/timed_process.py), each preparing the course's training step over the first
`--batches` prepared batches and warming it up (one untimed pass) before anything is timed. Then, `--rounds`
times, every worker times one whole pass (a block), in ABBA order across the pairs of an A and a B worker (A B,
B A, ...), so that a drift in the machine's load falls on both sides alike, and no two blocks ever run at once.
A process is the independent unit (a process's thread placement and memory layout stay with it): its mean log
ms/step is one observation. B is judged against A with Welch's t-test on those (bench.judge.blocks.ab_test): the ratio
B/A with its confidence interval, the one-sided p-value, the Mann-Whitney U test beside it, and a verdict: SLOWER
only when p < --alpha and the ratio is at least 1 + --min-effect.

An environment is a Python interpreter (a virtual environment's bin/python) with TensorFlow, tf-keras,
transformers and datasets installed; the source tree is this one unless a revision is given (`--a-rev`, `--b-rev`:
checked out with `git worktree` into a temporary folder; the revision must have bench/timing/timed_process.py's API, i.e. be
this commit or later). `--quality` also fine-tunes once in each (1 epoch over the first --quality-rows rows) and
prints both accuracies and F1. Exit status: 0 no slowdown, 1 B is slower, 2 bad input (a revision that does not
exist among them, a bad FINETUNE_*_TIMEOUT), 3 a side could not be measured (its processes or its fine-tune failed,
or one passed its time limit: bench.timing.timeouts, killed and named in one line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench.judge import blocks
from bench.timing import timeouts
from bench.timing import processes
from finetune import options

ROOT = processes.ROOT


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0],
                                     epilog="See docs/gates.md, 'The A/B mode', for a TensorFlow 2.20 against 2.21 example.")
    for side in ("a", "b"):
        parser.add_argument(f"--{side}-python", default=sys.executable,
                            help=f"interpreter of environment {side.upper()} (default: this one)")
        parser.add_argument(f"--{side}-rev", default=None,
                            help=f"git revision for {side.upper()} (default: this working tree)")
    parser.add_argument("--workers", type=int, default=4, help="processes per side (default: 4)")
    parser.add_argument("--rounds", type=int, default=4, help="timed passes per process (default: 4)")
    parser.add_argument("--batches", type=int, default=6, help="prepared batches of 8 per pass (default: 6)")
    # the table's (finetune/options.py); the model is the small one on every host, not the CLI's pick by GPU: a
    # verdict's step times stay comparable across hosts and with bench.sensitivity's and bench.history's decisions
    options.add_to(parser, ("--model", "--glue-dir"), model=options.Surface("minilm-l6", help=options.DEFAULT))
    parser.add_argument("--alpha", type=float, default=blocks.ALPHA, help="one-sided significance level")
    parser.add_argument("--min-effect", type=float, default=blocks.MIN_EFFECT,
                        help="smallest slowdown reported (default: 0.05, 5%%)")
    parser.add_argument("--plant-slowdown-b", type=float, default=0.0,
                        help="test hook: make B's timed passes this fraction slower (bench.sensitivity)")
    parser.add_argument("--quality", action="store_true", help="also fine-tune once in each and print the quality")
    parser.add_argument("--quality-rows", type=int, default=800)
    options.add_to(parser, ("--json",), json=options.Surface(help="(the blocks and the verdict)"))
    args = parser.parse_args(argv)
    if args.workers < 2 or args.rounds < 1 or args.batches < 1:
        parser.error("--workers must be at least 2 (a spread needs two processes a side); --rounds and --batches "
                     "at least 1")
    for side in ("a", "b"):
        python = getattr(args, f"{side}_python")
        if not Path(python).is_file():
            parser.error(f"--{side}-python {python}: no such interpreter; give a virtual environment's bin/python")
    try:
        timeouts.Limits.from_env()  # a bad limit is bad input, before anything starts
    except timeouts.BadLimit as err:
        parser.error(str(err))
    return args


class BadRevision(Exception):
    """A revision git cannot check out: a usage error, never a verdict."""


class SideFailed(Exception):
    """A side's fine-tune failed: nothing was measured, so there is no verdict."""


class Side:
    """One environment: its interpreter and source tree (a git worktree for a revision)."""

    def __init__(self, name: str, python: str, rev: str | None, workdir: Path, limits: timeouts.Limits):
        self.name, self.python, self.rev, self.limits = name, python, rev, limits
        self.tree = ROOT
        if rev is not None:
            self.tree = workdir / name
            done = timeouts.git(ROOT, "worktree", "add", "--detach", str(self.tree), rev)
            if done.returncode != 0:
                raise BadRevision(f"--{name.lower()}-rev {rev}: {(done.stderr.strip().splitlines() or ['git worktree add failed'])[-1]}")
        self.workers: list[processes.Worker] = []
        self.meta: dict = {}

    def env(self) -> dict:
        """The environment this command started with (TF log level: as the caller's), not os.environ: what this
        tree's code sets at import (`finetune`, imported here for its option table: TF_USE_LEGACY_KERAS, or a
        oneDNN setting of the change under test) must not reach the other side (as bench.timing.reference_revision)."""
        return processes.tree_first(processes.initial_environment(), self.tree)

    def start(self, args, count: int, slowdown: float, together: int) -> None:
        """`count` timing processes of this side; `together`: how many processes set up at once (both sides')."""
        options = processes.block_options(args.model, args.batches, args.glue_dir, slowdown=slowdown)
        self.workers += [processes.Worker(self.python, self.tree, options, name=f"{self.name} {i + 1} of {count}",
                                        env=self.env(), limits=self.limits, together=together) for i in range(count)]

    def quality_limit_s(self, args) -> float:
        """The fine-tune's limit: its steps at the slowest ms/step this side's processes timed (bench.timing.timeouts)."""
        measured = [max(w.ms) for w in self.workers if w.ms]
        return self.limits.fine_tune_s(-(-args.quality_rows // 8), max(measured) if measured else None)

    def quality(self, args) -> dict:
        with tempfile.TemporaryDirectory() as out:
            result = Path(out) / "result.json"
            command = [self.python, "-m", "finetune", "--model", args.model, "--epochs", "1",
                       "--max-train-samples", str(args.quality_rows), "--json", str(result)]
            if args.glue_dir:
                command += ["--glue-dir", args.glue_dir]
            done = timeouts.run(command, cwd=self.tree, env=self.env(), capture_output=True, text=True,
                                limit_s=self.quality_limit_s(args), name=f"the fine-tune of {self.name} ({self.python} "
                                f"-m finetune, {args.quality_rows} rows)",
                                fix=timeouts.raise_hint(timeouts.COMMAND_ENV, self.limits.command_s))
            if done.returncode != 0:
                raise SideFailed(f"the fine-tune of {self.name} failed: "
                                 f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}")
            found = json.loads(result.read_text())
        return {"accuracy": found["accuracy"], "f1": found["f1"], "ms_per_step": found["fit"]["ms_per_step"]}

    def process_means(self, since: list[int]) -> list[float]:
        """Per worker, the geometric mean of its passes after the mark `since` (the log scale the test works on)."""
        return blocks.process_means([w.ms[start:] for w, start in zip(self.workers, since)])

    def stop(self) -> None:
        processes.close_all(self.workers)

    def close(self) -> None:
        self.stop()
        if self.rev is not None:
            timeouts.git(ROOT, "worktree", "remove", "--force", str(self.tree))


def interleaved(pairs: list, rounds: int, progress=None, b_slowdown: float | None = None) -> None:
    """Each round, one pass of every worker, pair by pair in ABBA order (A B, B A, ... alternating by round and
    pair), one at a time. `b_slowdown`: B's passes planted that much slower (bench.sensitivity)."""
    for r in range(rounds):
        for i, (a, b) in enumerate(pairs):
            for worker in ((a, b) if (r + i) % 2 == 0 else (b, a)):
                worker.timed_pass(b_slowdown if worker is b else None)
        if progress:
            progress(r)


@contextlib.contextmanager
def sides(args):
    """Both environments' workers, started together and warmed up: (A, B)."""
    limits = getattr(args, "limits", None) or processes.limits_here()  # read once: both sides' processes, fine-tunes
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as workdir:
        a = Side("A", args.a_python, args.a_rev, Path(workdir), limits)
        try:
            b = Side("B", args.b_python, args.b_rev, Path(workdir), limits)
        except BaseException:
            a.close()  # its worktree, registered with git
            raise
        try:
            a.start(args, args.workers, 0.0, together=2 * args.workers)
            b.start(args, args.workers, args.plant_slowdown_b, together=2 * args.workers)
            for side in (a, b):
                answers = [worker.ready() for worker in side.workers]
                side.meta = {key: answers[0][key] for key in ("versions", "fingerprint", "rows")}
            yield a, b
        finally:
            processes.close_all(a.workers + b.workers)  # both sides end side by side
            a.close()
            b.close()


def decide(a: Side, b: Side, args, b_slowdown: float | None = None) -> dict:
    """`args.rounds` interleaved rounds, and the verdict on them: B's processes against A's."""
    marks = {side.name: [len(w.ms) for w in side.workers] for side in (a, b)}
    interleaved(list(zip(a.workers, b.workers)), args.rounds, lambda r: print(
        f"bench.ab: round {r + 1}/{args.rounds}: A {statistics.fmean(w.ms[-1] for w in a.workers):.1f}, "
        f"B {statistics.fmean(w.ms[-1] for w in b.workers):.1f} ms/step", file=sys.stderr, flush=True), b_slowdown)
    verdict = blocks.ab_test(a.process_means(marks["A"]), b.process_means(marks["B"]), args.alpha, args.min_effect)
    return {"verdict": verdict.to_dict(), "described": verdict.describe(),
            **{side.name: {"python": side.python, "rev": side.rev, **side.meta,
                           "ms_per_step": [w.ms[start:] for w, start in zip(side.workers, marks[side.name])]}
               for side in (a, b)},
            "settings": {k: getattr(args, k) for k in ("workers", "rounds", "batches", "model", "alpha",
                                                        "min_effect", "plant_slowdown_b")}}


def run(args) -> dict:
    with sides(args) as (a, b):
        found = decide(a, b, args)
        a.stop()
        b.stop()
        found["quality"] = {"A": a.quality(args), "B": b.quality(args)} if args.quality else None
    return found


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        found = run(args)
    except BadRevision as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (processes.WorkerFailed, SideFailed, timeouts.TimedOut) as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
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
