"""Confirmation and bisection of a step-time change point, side by side on this machine (as Chromium's Pinpoint
does): the A/B mode (bench.ab) between two revisions, each in fresh interleaved processes.

    python -m bench.history confirm DIR [--fingerprint FP] [--workers 4 --rounds 4 --batches 6]
    python -m bench.history bisect --good REV --bad REV [--night DIR/FP/NIGHT.json] [--workers ...]

`confirm`: every change for the worse in a gated step-time series that has no verdict yet is re-measured between
the last night of the old level and the first of the new (their revisions), and the verdict is stored beside the
night (bench/history/nights.py). `bisect`: the first commit of `git rev-list --ancestry-path GOOD..BAD` (oldest first)
that the A/B mode finds slower than GOOD, by halving the range: each step is one decision, about 4 minutes of
2-core machine with the defaults. A revision the history names as dirty cannot be checked out: it is named, and
skipped.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.timing import ab
from bench.history import nights
from bench.timing import timeouts
from bench.timing.processes import ROOT, WorkerFailed
from finetune import options
from finetune.errors import FinetuneError

AB_FLAGS = ("--workers", "--rounds", "--batches", "--model", "--glue-dir", "--alpha", "--min-effect")


def add_arguments(parser, command: str) -> None:
    if command == "bisect":
        parser.add_argument("--good", required=True, help="a revision whose step time is the old level")
        parser.add_argument("--bad", required=True, help="a later revision whose step time is slower")
        parser.add_argument("--night", type=Path, default=None,
                            help="the night (DIR/FINGERPRINT/NIGHT.json) to store the result beside")
    if command == "confirm":
        parser.add_argument("--bisect", action="store_true",
                            help="narrow a confirmed slowdown's revision range to its first slow commit")
    parser.add_argument("--workers", default="4", help="A/B processes per side (default: 4)")
    parser.add_argument("--rounds", default="4", help="A/B timed passes per process (default: 4)")
    parser.add_argument("--batches", default="6", help="A/B batches of 8 per pass (default: 6)")
    # the table's (finetune/options.py), handed on to bench.ab; the model left out is the night's (ab_args), not the
    # CLI's pick by GPU
    options.add_to(parser, ("--model", "--glue-dir"),
                   model=options.Surface(help="(default: the night's model; bisect: bench.ab's, minilm-l6)"))


def ab_args(args, good: str, bad: str, model: str | None = None):
    """bench.ab's settings for GOOD (A) against BAD (B), from this command's A/B options."""
    argv = ["--a-rev", good, "--b-rev", bad]
    for flag in AB_FLAGS:
        value = getattr(args, flag.removeprefix("--").replace("-", "_"), None)
        if flag == "--model":
            value = value or model
        if value is not None:
            argv += [flag, str(value)]
    try:
        return ab.parse_args(argv)
    except SystemExit:
        raise FinetuneError("bad A/B options (see python -m bench.ab --help)") from None


def decide(args, good: str, bad: str, model: str | None = None) -> dict:
    """One A/B decision, B = `bad` against A = `good`: bench.ab's result (verdict, blocks) and its seconds."""
    started = time.perf_counter()
    try:
        found = ab.run(ab_args(args, good, bad, model))
    except (WorkerFailed, timeouts.TimedOut) as err:
        raise FinetuneError(f"the A/B mode could not time {good} against {bad}: {err}") from None
    except ab.BadRevision as err:
        raise FinetuneError(str(err)) from None
    print(f"bench.history: {bad} against {good}: {found['described']}", flush=True)
    return {**found, "seconds": time.perf_counter() - started}


def git(*arguments: str):
    """git on this repository within its limit (bench.timing.timeouts.GIT_S); past it, one line."""
    try:
        return timeouts.git(ROOT, *arguments)
    except timeouts.TimedOut as err:
        raise FinetuneError(str(err)) from None


def commits(good: str, bad: str) -> list[str]:
    """The commits after `good` up to `bad`, oldest first (first-parent ancestry)."""
    done = git("rev-list", "--ancestry-path", "--reverse", f"{good}..{bad}")
    if done.returncode != 0:
        raise FinetuneError(f"git rev-list {good}..{bad}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
    found = done.stdout.split()
    if not found:
        raise FinetuneError(f"{bad} is not after {good}: nothing to bisect (give --good the older revision)")
    return found


def bisect(args, good: str, bad: str, decide_=decide, known_end: dict | None = None, model: str | None = None) -> dict:
    """The first commit in GOOD..BAD whose step time the A/B mode finds slower than GOOD's. BAD is measured too
    (first; `known_end`: its decision, already made by confirm), so a range whose end is not slower says so instead
    of blaming a commit."""
    revs = commits(good, bad)
    steps = []
    end = known_end or decide_(args, good, revs[-1], model)
    steps.append({"rev": revs[-1], "verdict": end["verdict"], "described": end["described"]})
    if not end["verdict"]["slower"]:
        return {"good": good, "bad": bad, "commits": revs, "first_slow": None, "steps": steps,
                "described": f"{bad} is not slower than {good} here: nothing to bisect"}
    lo, hi = -1, len(revs) - 1  # revs[lo] (GOOD at -1) is not slower; revs[hi] is
    while hi - lo > 1:
        mid = (lo + hi) // 2
        found = decide_(args, good, revs[mid], model)
        steps.append({"rev": revs[mid], "verdict": found["verdict"], "described": found["described"]})
        if found["verdict"]["slower"]:
            hi = mid
        else:
            lo = mid
    subject = git("log", "-1", "--format=%h %s", revs[hi]).stdout.strip()
    return {"good": good, "bad": bad, "commits": revs, "first_slow": revs[hi], "subject": subject, "steps": steps,
            "described": f"the first slow commit: {subject} ({len(steps)} A/B decisions over {len(revs)} commits)"}


def run_bisect(args) -> int:
    found = bisect(args, args.good, args.bad)
    print(f"bench.history bisect: {found['described']}")
    if args.night is not None:
        night = Path(args.night)
        path = nights.write_verdict(night.parent.parent, night.parent.name, night.stem, "bisect", found)
        print(f"bench.history: stored beside the night: {path}")
    return 1 if found["first_slow"] else 0

