"""This machine's fastest fine-tune for a task, found by measurement: `--perf best` then means it here.

    python -m bench.tune [--candidates course,buckets,xla-buckets,buckets@keras3-jax,course:inter=1 ...]
                         [--engine-python keras3-jax=PATH] [--replicates 3 --rounds 3 --batches 12]
                         [--quality-epochs 3 | --no-quality] [--store] [--json out/tune.json]

1. Time. Each candidate (bench/tune/candidates.py: a finetune.perf variant, an engine, TensorFlow's threads) steps the
   same rows: --batches x 8 rows whose lengths follow the task's training split (steptime.length_sample), batched
   its own way, warmed up (tracing, every XLA compile) before anything is timed. In each of --replicates replicates
   fresh processes (bench/timing/timed_process.py, one per engine and threading) time --rounds passes of every candidate, the
   order alternating by round, one pass at a time on the whole machine. Each candidate is judged against the
   baseline (--baseline, the course) by a paired t-test over the replicates on the log ratio (bench.judge.blocks).
2. Choose. The fastest candidate that is significantly faster (p < --alpha and at least --min-effect); among those
   that cannot be told apart from the fastest, one that changes no arithmetic first. Where none is, the baseline.
3. Check. A candidate that changes the arithmetic or the batches (precision, XLA, bucketing) is fine-tuned for real
   (--quality-epochs over --quality-rows rows) and must land inside the stored band of the course's fix (this
   machine's baseline file, else another machine's for the model: quality does not depend on the host), judged as
   the gate judges (bench.judge.verdicts.judge_quality): a run that collapsed to one class or did not learn is never
   inside, and a band that holds a collapse score accepts nothing. One outside it, or with no band to be judged
   by, is passed over for the next. --side-by-side fine-tunes the baseline too, for the whole fine-tune's ratio
   (compiles included).
4. Store. --store writes the choice per engine into baselines/<model>__<fingerprint>.json ("tuned"; finetune.tuned_choice
   reads it for --perf best), with the ratio, its interval (the speed claim test_faster_than_the_course asserts
   there) and the quality check, and the revision measured. A working tree with uncommitted changes is refused
   (exit 2): such a revision cannot be measured again. --force-dirty stores it anyway, marked "dirty" (no claim).

A candidate that is no candidate (an unknown variant or engine), or that this host or engine cannot run (bf16
without native support, a missing engine), gets one line naming it, and the others still run. Exit status: 0
done, 2 bad input (no baseline, nothing left to compare, --store from a dirty tree), 3 the baseline could not be
timed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.judge import blocks
from bench.judge import ranking
from bench.tune import candidates
from bench.store import baselines
from bench.timing import timeouts
from bench.timing import processes
from bench.tune.design import warn, whole_steps
from bench.tune.quality import by_engine, cache_of, choose, fine_tune
from bench.tune.replicates import replicate
from bench.tune.storing import revision, store_refusal, stored_document
from finetune import environment, options, runtime
from finetune.errors import FinetuneError



def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.tune", description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default=",".join(candidates.DEFAULT), help="comma-separated (see above)")
    parser.add_argument("--baseline", default="course", help="the candidate the others are judged against")
    # the table's (finetune/options.py); the model: the small one on every host, not the CLI's pick by GPU (the
    # choice is stored per model: one host's tune of it is another's to compare)
    options.add_to(parser, ("--task", "--model"), model=options.Surface("minilm-l6", help=options.DEFAULT))
    # not the table's --engine: an engine label (tf-keras, keras3-jax, a test's fake), as a candidate names it
    # after @, checked against the registered engines by bench.tune.candidates, not one of finetune's engine names
    parser.add_argument("--engine", default="tf-keras", help="candidates' engine where they name none")
    parser.add_argument("--engine-python", action="append", default=[], metavar="ENGINE=PATH",
                        help="the interpreter of an engine's environment (default: this one)")
    options.add_to(parser, ("--glue-dir",))
    parser.add_argument("--replicates", type=int, default=3, help="fresh sets of processes (default: 3)")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes of each candidate per replicate")
    parser.add_argument("--batches", type=int, default=12, help="batches of 8 in the length sample (default: 12)")
    parser.add_argument("--alpha", type=float, default=blocks.ALPHA)
    parser.add_argument("--min-effect", type=float, default=blocks.MIN_EFFECT)
    parser.add_argument("--quality-epochs", type=int, default=3)
    parser.add_argument("--quality-rows", type=int, default=None, help="training rows of the check (default: all)")
    parser.add_argument("--no-quality", action="store_true", help="no fine-tune: arithmetic-changing candidates "
                                                                  "cannot be chosen")
    parser.add_argument("--side-by-side", action="store_true", help="fine-tune the baseline too (whole-run ratio)")
    parser.add_argument("--store", action="store_true", help="write the choice into this machine's baseline file")
    parser.add_argument("--force-dirty", action="store_true",
                        help="--store from a tree with uncommitted changes, the choice marked dirty (no speed claim)")
    # --baselines: pytest's folder, the same default (finetune/ cannot name bench/'s folder: the table says it)
    options.add_to(parser, ("--baselines", "--json"), baselines=options.Surface(baselines.BASELINE_DIR))
    # not the table's --plant-slowdown (one fraction for every timed step): one candidate's, repeatable
    parser.add_argument("--plant-slowdown", action="append", default=[], metavar="CANDIDATE=F",
                        help="test hook: that candidate's passes made F slower")
    args = parser.parse_args(argv)
    if args.replicates < 2 or args.rounds < 1 or args.batches < 1:
        parser.error("--replicates must be at least 2 (the paired test needs a spread); --rounds and --batches >= 1")
    try:
        args.pythons = dict(item.split("=", 1) for item in args.engine_python)
        args.planted = {name: float(value) for name, value in (item.split("=", 1) for item in args.plant_slowdown)}
    except ValueError:
        parser.error("--engine-python takes ENGINE=PATH and --plant-slowdown CANDIDATE=F")
    for label, python in args.pythons.items():
        if not Path(python).is_file():
            parser.error(f"--engine-python {label}={python}: no such interpreter")
    return args


def chosen_candidates(args) -> dict:
    """{text: Candidate} of --candidates; one that names nothing is one line, and left out."""
    found = {}
    for text in filter(None, (t.strip() for t in args.candidates.split(","))):
        try:
            found[text] = candidates.parse(text, args.engine)
        except FinetuneError as err:
            warn(f"candidate {text!r} left out: {err}")
    return found


def table(rows: dict, found: dict, choice: str, skipped: dict) -> list[str]:
    """The result in lines: every candidate by ratio, with its interval, its whole fine-tune projected with its
    compiles, and which ones cannot be told apart."""
    steps = next((row["whole"]["steps"] for row in rows.values() if row.get("whole")), None)
    whole = f"whole {steps} steps" if steps else "whole"
    lines = [f"{'candidate':28} {'ms/step':>8} {'ratio':>6} {'90% interval':>16} {'p(faster)':>9} {whole:>24}  "
             "verdict"]
    for text in ranking.ranked(rows):
        row = rows[text]
        verdict = ("baseline" if row["p"] is None else "faster" if row["faster"] else "SLOWER" if row["slower"]
                   else "no significant change")
        if row["indistinguishable"]:
            verdict += ", indistinguishable from the fastest"
        p = "" if row["p"] is None else f"{1 - row['p']:.2g}"  # row["p"] is one-sided for slower
        projected = row.get("whole")
        projected = (f"{projected['ratio']:.3f} (+{projected['compile_s']:.0f} s)" if projected else "n/a")
        lines.append(f"{text + (' *' if text == choice else ''):28} {row['ms_per_step']:8.1f} {row['ratio']:6.3f} "
                     f"[{row['low']:.3f}, {row['high']:.3f}] {p:>9} {projected:>24}  {verdict}"
                     + ("; changes the arithmetic" if found[text].changes_numerics else ""))
    lines += [f"{text}: not run: {why}" for text, why in skipped.items()]
    return lines


def side_by_side(found: dict, baseline: str, choice: str, checks: dict, args) -> dict:
    """The baseline and the choice as whole fine-tunes of the quality check's length: the choice cold (its own empty
    XLA cache: every compile paid, as on a fresh runner; its quality check's run where it had one) and, where it
    stored compiles, warm too (the same cache again: what a nightly's second night waits for). Both are labelled."""
    side = {"baseline": fine_tune(found[baseline], args),
            "choice": (checks.get(choice) or {}).get("run") or fine_tune(found[choice], args)}
    side["ratio"] = side["choice"]["fit_s"] / side["baseline"]["fit_s"]
    if side["choice"].get("compile_cache", "").startswith("cold") and cache_of(found[choice], args) is not None:
        side["choice_warm"] = fine_tune(found[choice], args)
        side["ratio_warm"] = side["choice_warm"]["fit_s"] / side["baseline"]["fit_s"]
    return side


def run(args) -> int:
    with tempfile.TemporaryDirectory(prefix="tune-compile-caches-") as caches:
        args.compile_caches = caches  # a candidate's own XLA cache (bench.tune.quality.cache_of): cold, then warm
        return run_with_caches(args)


def run_with_caches(args) -> int:
    refusal = store_refusal(args)  # before minutes of timing
    if refusal:
        warn(f"error: {refusal}")
        return 2
    found = chosen_candidates(args)
    baseline = next((t for t, c in found.items() if t == args.baseline or c.text == args.baseline), None)
    if baseline is None:
        warn(f"error: the baseline {args.baseline!r} is not among the candidates: add it to --candidates")
        return 2
    skipped: dict = {}
    times: dict = {}
    firsts: dict = {}
    for r in range(args.replicates):
        replicate(found, args, r, times, skipped, firsts)
        if baseline in skipped:
            warn(f"error: the baseline {baseline} could not be timed: {skipped[baseline]}")
            return 3
    for text, why in skipped.items():
        warn(f"candidate {text!r} not run: {why}")
    found = {t: c for t, c in found.items() if t in times and t not in skipped}
    if len(found) < 2:
        warn("error: nothing left to compare with the baseline: give --candidates the host can run")
        return 2
    means = {t: blocks.process_means(per_replicate) for t, per_replicate in times.items() if t in found}
    rows = ranking.judged(means, baseline, args.alpha, args.min_effect)
    ranking.projected(rows, firsts, args.batches, whole_steps(args), baseline)
    kind = runtime.device_kind("auto")  # where the processes' steps ran (engines place them on a GPU)
    fingerprint = environment.hardware_key(kind)
    choice, checks = choose(found, rows, args, fingerprint, baseline)
    side = None
    if args.side_by_side and not args.no_quality:
        side = side_by_side(found, baseline, choice, checks, args)
    for line in table(rows, found, choice, skipped):
        print(line)
    print(f"choice for {fingerprint}: {choice} ({rows[choice]['described']})")
    whole = rows[choice].get("whole")
    on_whole = ranking.chosen_on(rows) is not rows  # every row projected: the choice rests on the whole fine-tune
    if whole and choice != baseline and on_whole:
        print(f"  chosen on its whole fine-tune of {whole['steps']} steps, projected with its compiles "
              f"({whole['compile_s']:.0f} s): ratio {whole['ratio']:.3f} [{whole['low']:.3f}, {whole['high']:.3f}]")
    elif whole and choice != baseline and whole["high"] >= 1.0:
        print(f"  but its whole fine-tune of {whole['steps']} steps, projected with its compiles "
              f"({whole['compile_s']:.0f} s), is not faster: ratio {whole['ratio']:.3f} "
              f"[{whole['low']:.3f}, {whole['high']:.3f}]")
    if found[choice].threads:
        print("  its threads are the process's: set " + " ".join(f"{k}={v}" for k, v in found[choice].env().items())
              + " where it runs (--perf best sets the variant only)")
    if side:
        print(f"whole fine-tunes, {args.quality_epochs} epoch(s): {choice} {side['choice']['fit_s']:.0f} s against "
              f"{baseline} {side['baseline']['fit_s']:.0f} s, {side['ratio']:.3f}x; compile cache "
              f"{side['choice']['compile_cache']}")
        if side.get("choice_warm"):
            print(f"  warm (its compiles read back, as on a nightly's second night): "
                  f"{side['choice_warm']['fit_s']:.0f} s, {side['ratio_warm']:.3f}x; compile cache "
                  f"{side['choice_warm']['compile_cache']}")
    entry = {"device": kind, "choice": choice, "baseline": baseline, "baseline_engine": found[baseline].engine,
             "by_engine": by_engine(found, rows, choice, checks, baseline),
             "candidates": rows, "checks": checks,
             "not_run": skipped, "side_by_side": side,
             "design": {k: getattr(args, k) for k in ("task", "model", "replicates", "rounds", "batches", "alpha",
                                                      "min_effect", "quality_epochs", "quality_rows")},
             "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "revision": revision(),
             "command": "python -m bench.tune " + " ".join(sys.argv[1:]), "fingerprint": fingerprint}
    entry["dirty"] = (entry["revision"] or "-dirty").endswith("-dirty")  # unknown counts as dirty: no claim
    if args.store and not args.planted:
        dirty = f" from a dirty tree ({entry['revision']}): no speed claim" if entry["dirty"] else ""
        print(f"stored in {stored_document(args, entry, fingerprint)}{dirty}")
    elif args.store:
        warn("not stored: planted slowdowns are a test hook, not a measurement")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(entry, indent=2) + "\n")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (FinetuneError, processes.WorkerFailed, timeouts.TimedOut, subprocess.TimeoutExpired) as err:
        warn(f"error: {err}")
        return 3
