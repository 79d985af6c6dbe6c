"""Replay: how the history's change detection (bench/judge/changes.py) and the gate from a runner's own nights
(bench.history.cli.baseline_group) behave on series built from measured nights.

    python -m bench.replay [--history DIR] [--series 10] [--nights 30] [--step-at 24 --after 16] [--step 0.10] [--json OUT]

A replayed night is a measured session (its processes' passes, ms/step) drawn at random from the committed
baselines' sessions (measured back to back: a session's own noise), times the day's drift, drawn from a measured
day-to-day spread (DAY_DRIFT_SD below; with --history also the spread of that history's nights), times the planted
step from night --step-at on. It prints how often the planted step is detected, within how many nights of it, and
how often an unchanged series raises a false alarm; then, for a new runner with K nights, how often its gate fails
an unchanged night and catches a slower one. Pure Python and scipy; seconds, not minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path

from bench.judge import blocks
from bench.judge import changes
from bench.history import nights
from bench.store import baselines
from finetune import options

# The host's level from day to day (log sd), measured on the AMX Xeon: the CI tier's mean step on four days,
# 392.8, 405.3, 425.3 and 440.4 ms (bench.judge.blocks.DAY_DRIFT's comment).
DAY_LEVELS_MS = (392.8, 405.3, 425.3, 440.4)
DAY_DRIFT_SD = statistics.stdev(math.log(v) for v in DAY_LEVELS_MS)


def measured_sessions(baselines: Path) -> list[list[list[float]]]:
    """Every committed session of blocks, each group scaled to its geometric level 1.0: sessions measured back to
    back (their spread is a session's own noise; the day's drift is added apart, DAY_DRIFT_SD)."""
    sessions = []
    for path in sorted(Path(baselines).glob("*.json")):
        for key, group in ((baselines.load(path) or {}).get("figures") or {}).items():
            found = [s for s in baselines.stored_sessions(group) if s and all(s)] if key.startswith("step_time/") else []
            if len(found) >= 2:
                level = statistics.fmean(blocks.session_value(s) for s in found)
                sessions += [[[v / math.exp(level) for v in p] for p in s] for s in found]
    return sessions


def _level_end(s: nights.Series) -> int:
    """The nights of a series before its first change point (its first level only)."""
    found = changes.detect(s.values(), changes.RULES["step_time_ms"])
    return found[0].index if found else len(s.points)


def nights_drift(history: Path) -> tuple[float, int] | None:
    """(log sd, nights) of the gated step time over a history's nights before their first change point: how far
    this runner's level moved from night to night."""
    values = []
    for fp in nights.fingerprints(history):
        for s in nights.series(nights.load(history, fp)):
            if s.figure == "step_time_ms" and len(s.points) >= 3:
                level = s.values()[:_level_end(s)]
                values += [math.log(v) - statistics.fmean(math.log(x) for x in level) for v in level]
    return (statistics.stdev(values), len(values)) if len(values) >= 3 else None


def night(rng: random.Random, sessions: list, factor: float, drift_sd: float = DAY_DRIFT_SD) -> list[list[float]]:
    drift = math.exp(rng.gauss(0.0, drift_sd))
    return [[v * 400.0 * drift * factor for v in p] for p in rng.choice(sessions)]


def replay_series(rng, sessions, count: int, step_at: int | None, step: float,
                  drift_sd: float = DAY_DRIFT_SD) -> list[list[list[float]]]:
    return [night(rng, sessions, 1.0 + step if step_at is not None and i >= step_at else 1.0, drift_sd)
            for i in range(count)]


def detection(args, sessions, drift_sd: float = DAY_DRIFT_SD) -> dict:
    rng = random.Random(args.seed)
    rule = changes.RULES["step_time_ms"]
    settings = {"alpha": args.alpha, "back": args.back, "fore": args.fore, "min_fore": args.min_fore}
    delays, spans, false_alarms, missed = [], [], 0, 0
    for _ in range(args.series):
        length = args.step_at + args.after
        values = [nights.session_ms(s)
                  for s in replay_series(rng, sessions, length, args.step_at, args.step, drift_sd)]
        delay = None
        for seen in range(args.step_at + 1, length + 1):  # nights known so far
            found = changes.detect(values[:seen], rule, **settings)
            holding = [c for c in found if c.first <= args.step_at <= c.last and c.worse]  # its range holds it
            if holding:
                delay = seen - args.step_at  # nights from the step's first night on, that one included
                spans.append(holding[0].last - holding[0].first + 1)  # nights whose revisions bisect searches
                break
        delays.append(delay)
        missed += delay is None
        unchanged = [nights.session_ms(s) for s in replay_series(rng, sessions, args.nights, None, 0.0, drift_sd)]
        false_alarms += bool(changes.detect(unchanged, rule, **settings))
    found = sorted(d for d in delays if d is not None)
    within = found[math.ceil(0.9 * args.series) - 1] if len(found) >= math.ceil(0.9 * args.series) else None
    return {"drift_sd": drift_sd, "series": args.series, "nights": args.nights, "step_at_night": args.step_at + 1,
            "nights_after": args.after, "step": args.step,
            "detected": args.series - missed, "delays": delays, "nights_for_9_in_10": within,
            "span_nights": spans,
            "false_alarm_series": false_alarms}


def new_runner(args, sessions) -> list[dict]:
    """For K stored nights (K dates): how often the gate fails an unchanged night and catches slower ones."""
    rng = random.Random(args.seed + 1)
    rows = []
    for k in (3, 4, 5, 8, 12, 20):
        failed = {0.0: 0, 0.10: 0, 0.15: 0, 0.20: 0}
        for _ in range(args.trials):
            stored = [night(rng, sessions, 1.0) for _ in range(k)]
            for slowdown in failed:
                failed[slowdown] += blocks.stored_gate(night(rng, sessions, 1 + slowdown), stored, days=k).slower
        rows.append({"nights": k, **{f"failed_at_{int(round(s * 100))}pct": n / args.trials for s, n in failed.items()}})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    # --baselines: pytest's folder, the same default (finetune/ cannot name bench/'s folder: the table says it)
    options.add_to(parser, ("--baselines",), baselines=options.Surface(baselines.BASELINE_DIR))
    # not the table's --history (a history this session's night is appended to, $FINETUNE_HISTORY): nights only read
    parser.add_argument("--history", type=Path, default=None, help="also draw sessions from these nights")
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--nights", type=int, default=30, help="nights of each unchanged series")
    parser.add_argument("--step-at", type=int, default=24, help="the planted step's first night, 0-based")
    parser.add_argument("--after", type=int, default=16, help="nights of a stepped series from the step on")
    parser.add_argument("--step", type=float, default=0.10)
    parser.add_argument("--trials", type=int, default=400, help="gate trials per K")
    options.add_to(parser, ("--seed",))  # the table's: the replay's draws are the run's randomness
    parser.add_argument("--alpha", type=float, default=changes.ALPHA, help="the detection's (default: changes.ALPHA)")
    parser.add_argument("--back", type=int, default=changes.BACK)
    parser.add_argument("--fore", type=int, default=changes.FORE)
    parser.add_argument("--min-fore", type=int, default=changes.MIN_FORE)
    options.add_to(parser, ("--json",))
    args = parser.parse_args(argv)
    sessions = measured_sessions(args.baselines)
    if len(sessions) < 2:
        print("bench.replay: fewer than 2 committed sessions of blocks in the baselines: nothing to replay",
              file=sys.stderr)
        return 2
    drifts = [("the day-to-day drift measured over 4 days", DAY_DRIFT_SD)]
    here = nights_drift(args.history) if args.history else None
    if here:
        drifts.append((f"the drift between this history's {here[1]} nights", here[0]))
    spread = statistics.stdev(blocks.session_value(s) for s in sessions)
    print(f"replay: {len(sessions)} committed sessions (log sd {spread:.3f} about their levels); day-to-day drift "
          f"log sd {DAY_DRIFT_SD:.3f} (from {', '.join(map(str, DAY_LEVELS_MS))} ms)")
    found = []
    for what, drift_sd in drifts:
        result = detection(args, sessions, drift_sd)
        found.append({**result, "drift": what})
        print(f"change detection (back {args.back}, fore {args.fore}, min {changes.MIN_BACK}+{args.min_fore}, "
              f"alpha {args.alpha}), nights drifting by {what} (log sd {drift_sd:.3f}): a {args.step:.0%} step "
              f"at night {args.step_at + 1} detected in {result['detected']}/{args.series} series; 9 in 10 within "
              f"{result['nights_for_9_in_10']} night(s) of it (delays {result['delays']}), its likely first nights "
              f"spanning {statistics.fmean(result['span_nights'] or [0]):.1f} on average; false alarms in "
              f"{result['false_alarm_series']}/{args.series} unchanged series of {args.nights} nights")
    rows = new_runner(args, sessions)
    print(f"a new runner's gate from K nights on K dates (drift log sd {DAY_DRIFT_SD:.3f}), rate of failing a night:")
    for row in rows:
        print(f"  K={row['nights']:2}: unchanged {row['failed_at_0pct']:.1%}, 10% slower {row['failed_at_10pct']:.0%}, "
              f"15% slower {row['failed_at_15pct']:.0%}, 20% slower {row['failed_at_20pct']:.0%}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"sessions": len(sessions), "day_drift_sd": DAY_DRIFT_SD,
                                         "detection": found, "new_runner": rows,
                                         "settings": {k: str(v) for k, v in vars(args).items()}}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
