"""Proof of sensitivity: how often a gate catches a planted slowdown, and how often it passes an unchanged run.

    python -m bench.sensitivity ab --repeats 10 --slowdown 0.10 [--workers 4 --rounds 4 --batches 6]
    python -m bench.sensitivity stored --repeats 10 --slowdown 0.15 [--tier ci]

`ab`: each repeat starts fresh processes for both sides and makes two decisions of the A/B mode (bench.ab) on
them: A against an unchanged B, then A against B with its timed passes --slowdown slower.
`stored`: each repeat is two sessions of `pytest bench/test_step_time.py -k cpu` against this machine's stored
baseline (the block gate, bench.judge.verdicts.check_blocks): one unchanged, one with --plant-slowdown.
It prints, and with --json writes, the rate at which each was flagged and the seconds one decision took. Run it on
an otherwise idle machine: it is itself a timing. Not a unit test: it takes tens of minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.timing import ab
from bench.judge import blocks
from bench.timing import timeouts
from bench.timing import processes
from bench.session.tiers import TIERS
from finetune import options

ROOT = Path(__file__).resolve().parents[2]


def ab_repeat(args, workdir: Path) -> dict:
    """Two A/B decisions on one set of fresh processes (A and B both this environment): first B unchanged, then
    B's passes planted --slowdown slower. Each decision is distributed as a fresh one (new processes each repeat);
    sharing the processes within a repeat halves the set-up (each process traces the training step once)."""
    found = {}
    settings = argparse.Namespace(**{**vars(args), "a_python": sys.executable, "b_python": sys.executable,
                                     "a_rev": None, "b_rev": None, "plant_slowdown_b": 0.0, "quality": False})
    started = time.perf_counter()
    with ab.sides(settings) as (a, b):
        found["setup_s"] = time.perf_counter() - started
        for name, slowdown in (("unchanged", None), ("slowed", args.slowdown)):
            begun = time.perf_counter()
            decided = ab.decide(a, b, settings, b_slowdown=slowdown)
            found[name] = {**decided["verdict"], "seconds": time.perf_counter() - begun,
                           "ms_per_step": {"A": decided["A"]["ms_per_step"], "B": decided["B"]["ms_per_step"]}}
    return found


def coverage(unchanged: list) -> dict:
    """How often an unchanged decision's two-sided interval (1 - 2 alpha: 90% at the default alpha) missed 1, and
    on which side: a calibrated interval misses it 2 alpha of the time, alpha on each side. More misses than that
    say the processes a side are too few for the spread they see (sizing the A/B mode's workers); the verdict
    itself errs only on the slow side, and only past the minimum effect."""
    slow = sum(d["low"] > 1.0 for d in unchanged)
    fast = sum(d["high"] < 1.0 for d in unchanged)
    return {"decisions": len(unchanged), "above_1": slow, "below_1": fast, "missed": slow + fast}


def stored_session(args, slowdown: float, out: Path, expected_s: float | None = None) -> dict:
    """One `pytest bench/test_step_time.py -k cpu` session; `expected_s`: what one took already (its limit is
    FACTOR x that, else FINETUNE_COMMAND_TIMEOUT's floor: bench.timing.timeouts)."""
    command = [sys.executable, "-m", "pytest", "bench/test_step_time.py", "-k", "cpu", "-q", "-p", "no:cacheprovider",
               "--tier", args.tier, "--benchmark-json", str(out), "--plant-slowdown", str(slowdown)]
    # a planted session is refused with --history (bench.session.tiers): $FINETUNE_HISTORY, where the caller has it,
    # stays out of these sessions, which are kept in their JSON only
    env = {name: value for name, value in os.environ.items() if name != "FINETUNE_HISTORY"}
    done = timeouts.run(command, cwd=ROOT, capture_output=True, text=True, env=env,
                        limit_s=args.limits.command_s_for(expected_s),
                        name=f"the step-time session ({' '.join(command[2:6])}, --plant-slowdown {slowdown:g})",
                        fix=timeouts.raise_hint(timeouts.COMMAND_ENV, args.limits.command_s))
    if done.returncode not in (0, 1) or not out.is_file():
        said = [line for line in (done.stdout + done.stderr).splitlines() if "finetune: " in line]  # the one line
        last = said[-1] if said else (done.stdout.strip().splitlines() or [""])[-1]
        raise SystemExit(f"error: pytest exited {done.returncode}: {last}")
    (bench,) = [b for b in json.loads(out.read_text())["benchmarks"] if b["extra_info"].get("kind") == "step_time"]
    info = bench["extra_info"]
    outcome = info["gate"]["step_time_ms"]
    if outcome.startswith("skipped"):
        raise SystemExit(f"error: the gate was skipped ({outcome}): make a baseline with blocks first")
    return {"slower": outcome == "failed", "gate_test": info.get("gate_test"), "step_time_ms": info["step_time_ms"]}


def stored_repeat(args, workdir: Path) -> dict:
    started = time.perf_counter()
    unchanged = stored_session(args, 0.0, workdir / "unchanged.json")
    return {"unchanged": unchanged,
            "slowed": stored_session(args, args.slowdown, workdir / "slowed.json", time.perf_counter() - started)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sensitivity", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["ab", "stored"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--slowdown", type=float, default=0.10)
    parser.add_argument("--workers", type=int, default=4, help="ab: processes per side")
    parser.add_argument("--rounds", type=int, default=4, help="ab: timed passes per process")
    parser.add_argument("--batches", type=int, default=6, help="ab: batches per pass")
    # the table's (finetune/options.py); the model: bench.ab's, the small one on every host (a rate of one host
    # compares with another's)
    options.add_to(parser, ("--model", "--glue-dir"), model=options.Surface("minilm-l6", help=options.DEFAULT))
    parser.add_argument("--alpha", type=float, default=blocks.ALPHA)
    parser.add_argument("--min-effect", type=float, default=blocks.MIN_EFFECT)
    # --tier: pytest's, for the sessions `stored` runs (-k cpu); its default ci, not pytest's pick by GPU: the gate
    # proved is the CPU step time's, whatever this host sees
    options.add_to(parser, ("--tier", "--json"), {"--tier": tuple(TIERS)}, tier=options.Surface(
        "ci", options.FROM_CALLER, "(stored: the tier whose step-time baseline is the gate; default: %(default)s)"))
    args = parser.parse_args(argv)
    try:
        args.limits = timeouts.Limits.from_env()  # read once: every session's and process's limits
    except timeouts.BadLimit as err:
        parser.error(str(err))
    repeats = []
    for i in range(args.repeats):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="bench-sensitivity-") as workdir:
            try:
                found = (ab_repeat if args.mode == "ab" else stored_repeat)(args, Path(workdir))
            except (timeouts.TimedOut, processes.WorkerFailed) as err:
                raise SystemExit(f"error: {err}") from None
        found["seconds"] = time.perf_counter() - started
        repeats.append(found)
        print(f"repeat {i + 1}/{args.repeats}: unchanged flagged {found['unchanged']['slower']}, "
              f"{args.slowdown:.0%} slower flagged {found['slowed']['slower']} ({found['seconds']:.0f} s)", flush=True)
    caught = sum(r["slowed"]["slower"] for r in repeats)
    passed = sum(not r["unchanged"]["slower"] for r in repeats)
    if args.mode == "ab":  # what one decision costs a user: the processes' set-up, then its rounds
        per_decision = statistics.fmean(r["setup_s"] + (r["unchanged"]["seconds"] + r["slowed"]["seconds"]) / 2
                                        for r in repeats)
    else:  # one pytest session each
        per_decision = statistics.fmean(r["seconds"] for r in repeats) / 2
    summary = {"mode": args.mode, "slowdown": args.slowdown, "repeats": args.repeats, "caught": caught,
               "unchanged_passed": passed, "seconds_per_decision": per_decision,
               **({"unchanged_intervals": coverage([r["unchanged"] for r in repeats])} if args.mode == "ab" else {}),
               "settings": {k: v for k, v in vars(args).items() if k != "json" and not isinstance(v, Path)}}
    print(f"{args.mode}: a planted {args.slowdown:.0%} slowdown caught in {caught}/{args.repeats}; unchanged passed in "
          f"{passed}/{args.repeats}; {per_decision:.0f} s per decision")
    if args.mode == "ab":
        found = summary["unchanged_intervals"]
        print(f"ab: unchanged intervals ({1 - 2 * args.alpha:.0%}) that missed 1: {found['missed']}/{args.repeats} "
              f"({found['above_1']} above, {found['below_1']} below; {2 * args.alpha:.0%} expected)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**summary, "runs": repeats}, indent=2) + "\n")
    return 0 if caught >= 0.9 * args.repeats and passed >= 0.9 * args.repeats else 1


if __name__ == "__main__":
    sys.exit(main())
