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
import os
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
from bench.tune.candidates import Candidate
from finetune import engines, environment, metrics, options, runtime, tuned_choice
from finetune.errors import FinetuneError
from finetune.tasks import METRIC_RANGE, TASKS

RECIPE = ("from_logits", "linear-decay")  # the course's fix: what every candidate fine-tunes with
REPO = processes.ROOT  # the source tree measured: its revision goes into a stored choice


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


def warn(text: str) -> None:
    print(f"bench.tune: {text}", file=sys.stderr, flush=True)


def chosen_candidates(args) -> dict:
    """{text: Candidate} of --candidates; one that names nothing is one line, and left out."""
    found = {}
    for text in filter(None, (t.strip() for t in args.candidates.split(","))):
        try:
            found[text] = candidates.parse(text, args.engine)
        except FinetuneError as err:
            warn(f"candidate {text!r} left out: {err}")
    return found


def start(group: list[Candidate], args, replicate: int) -> processes.Worker:
    engine = group[0].engine
    flags = engines.get(*candidates.engine_of(engine)).flags()  # the engine's own command-line flags
    options = processes.block_options(args.model, args.batches, args.glue_dir, task=args.task, engine_flags=flags,
                                    seed=replicate)
    options += ["--perf", ",".join(c.variant for c in group), "--sample", "lengths"]
    return processes.Worker(args.pythons.get(engine, sys.executable), processes.ROOT, options,
                          name=f"{engine} {dict(group[0].threads) or ''}".strip(),
                          env={**os.environ, **group[0].env()})


def replicate(found: dict, args, r: int, times: dict, skipped: dict, firsts: dict | None = None) -> None:
    """One replicate: fresh processes, --rounds passes of every candidate still in, the order alternating.
    firsts: each candidate's first (untimed, compiling) pass in seconds, one per replicate."""
    groups: dict = {}
    for text, c in found.items():
        if text not in skipped:
            groups.setdefault(c.process, []).append(c)
    started = {key: start(group, args, r) for key, group in groups.items()}
    try:
        live = {}
        for key, worker in started.items():
            try:
                ready = worker.ready()
            except processes.WorkerFailed as err:
                for c in groups[key]:
                    skipped.setdefault(c.text, str(err))
                continue
            for c in groups[key]:
                problem = ready["skipped"].get(c.variant)
                if problem:
                    skipped.setdefault(c.text, problem)
                else:
                    live[c.text] = (worker, c)
                    first = (ready["variants"].get(c.variant) or {}).get("first_pass_s")
                    if firsts is not None and first is not None:
                        firsts.setdefault(c.text, []).append(first)
        order = list(live)
        order = order[r % len(order):] + order[:r % len(order)] if order else order
        for round_ in range(args.rounds if order else 0):
            for text in order if round_ % 2 == 0 else reversed(order):
                worker, c = live[text]
                answer = worker.ask(f"pass {c.variant} {args.planted.get(text, 0.0)}")
                times.setdefault(text, [[] for _ in range(args.replicates)])[r].append(answer["ms_per_step"])
            warn(f"replicate {r + 1}/{args.replicates}, round {round_ + 1}/{args.rounds}: " + ", ".join(
                f"{t} {times[t][r][-1]:.0f}" for t in order) + " ms/step")
    finally:
        processes.close_all(started.values())


def fine_tune(c: Candidate, args) -> dict:
    """A real fine-tune of candidate `c` with the course's fix: its scores and fit()'s time."""
    name, backend = candidates.engine_of(c.engine)
    with tempfile.TemporaryDirectory() as out:
        result = Path(out) / "result.json"
        command = [args.pythons.get(c.engine, sys.executable), "-m", "finetune", "--task", args.task, "--model",
                   args.model, "--loss", RECIPE[0], "--optimizer", RECIPE[1], "--epochs", str(args.quality_epochs),
                   "--perf", c.variant, "--engine", name, "--json", str(result)]
        command += ["--backend", backend] if backend else []
        command += ["--glue-dir", args.glue_dir] if args.glue_dir else []
        command += ["--max-train-samples", str(args.quality_rows)] if args.quality_rows else []
        warn(f"fine-tuning {c.text}: {args.quality_epochs} epoch(s)")
        limits = processes.limits_here()  # bench.timing.timeouts: its steps at a slow step, at least the command floor
        done = timeouts.run(command, cwd=processes.ROOT, env={**os.environ, **c.env(), "PYTHONPATH": str(processes.ROOT)},
                            capture_output=True, text=True, limit_s=limits.fine_tune_s(whole_steps(args)),
                            name=f"the fine-tune of {c.text}",
                            fix=timeouts.raise_hint(timeouts.COMMAND_ENV, limits.command_s))
        if done.returncode != 0:
            raise FinetuneError(f"the fine-tune of {c.text} failed: "
                                f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}")
        found = json.loads(result.read_text())
    return {"scores": found["scores"], "ms_per_step": found["fit"]["ms_per_step"],
            "fit_s": found["wall_time_s"]["train"], "compile_s": found["fit"].get("compile_s"),
            "num_eval_examples": found["num_eval_examples"], "collapsed": found.get("collapsed"),
            "majority_accuracy": found.get("majority_accuracy")}


def quality_band(args, fingerprint: str) -> tuple:
    """(the stored group of the course's fix for this design, the file it came from): this machine's first. The
    band is the baseline engine's (--engine): a candidate on another engine must reach the course's quality too."""
    key = baselines.quality_key(args.task, *RECIPE, args.quality_epochs, args.quality_rows, 8, args.engine)
    paths = [baselines.path_for(args.baselines, args.model, key)
             for key in [fingerprint] + [other for other, _ in baselines.others(args.baselines, args.model, fingerprint)]]
    for path in paths:
        group = ((baselines.load(path) or {}).get("figures") or {}).get(key)
        if group:
            return group, path.name
    return None, key


def checked(c: Candidate, args, fingerprint: str) -> dict:
    """The quality check of candidate `c`: its fine-tune's scores judged against the band (passed: True/False)."""
    from bench.judge import verdicts

    group, where = quality_band(args, fingerprint)
    if group is None:
        return {"passed": False, "why": f"no stored band for {where}: create it with pytest bench/ --update-baselines"}
    run = fine_tune(c, args)
    limits = {name: METRIC_RANGE.get(name, verdicts.SCORE_RANGE) for name in run["scores"]}
    found = ranking.quality(run["scores"], run["collapsed"], run["majority_accuracy"], run["num_eval_examples"], group,
                           where, limits, collapse_scores(args))
    return {**found, "run": run}


def collapse_scores(args) -> dict:
    """{metric: {label: its score when every validation example is predicted as that label}} of the task's headline
    validation split (none for a regression), as the gate computes them (bench/session/suite.py): a band that holds one
    cannot tell a collapsed candidate from one that learned."""
    from finetune import data

    task = TASKS[args.task]
    if task.num_labels < 2:
        return {}
    splits, _ = data.load_splits(task, args.glue_dir)
    return metrics.constant_scores(task, data.labels_of(splits[task.eval_splits[0]]))


def choose(found: dict, rows: dict, args, fingerprint: str, baseline: str) -> tuple:
    """(the choice, quality checks by candidate): bench.judge.ranking.shortlist's order, each arithmetic-changing one
    fine-tuned until one lands in the band."""
    checks = {}
    for text in ranking.shortlist(rows, found, baseline):
        if text == baseline or not found[text].changes_numerics:
            return text, checks
        if args.no_quality:
            checks[text] = {"passed": False, "why": "--no-quality: not checked"}
            continue
        try:
            checks[text] = checked(found[text], args, fingerprint)
        except FinetuneError as err:
            checks[text] = {"passed": False, "why": str(err)}
        warn(f"quality of {text}: {'inside' if checks[text]['passed'] else 'NOT accepted'}: {checks[text]['why']}")
        if checks[text]["passed"]:
            return text, checks
    return baseline, checks


def by_engine(found: dict, rows: dict, choice: str, checks: dict, baseline: str) -> dict:
    """Per engine, what --perf best means: the overall choice for its engine; for another engine its fastest
    measured candidate that needs no check (or passed one), else its baseline-like course."""
    table = {}
    for text in [choice] + ranking.shortlist(rows, found, baseline):
        c = found[text]
        ok = text == choice or not c.changes_numerics or checks.get(text, {}).get("passed")
        if c.engine in table or not ok or c.threads:
            continue  # threads are the process's, not a variant's: --perf best cannot set them
        row = rows[text]
        table[c.engine] = {"candidate": text, "variant": c.variant, "ratio": row["ratio"], "low": row["low"],
                           "high": row["high"], "p_faster": None if row["p"] is None else 1 - row["p"],
                           "quality": checks[text]["why"] if text in checks else "unchanged arithmetic: not needed",
                           **({"whole": row["whole"]} if row.get("whole") else {})}  # its claim: finetune.tuned_choice
    return table


def whole_steps(args) -> int:
    """The steps of the fine-tune the projection is for: --quality-epochs over --quality-rows (default: all)."""
    rows = args.quality_rows or TASKS[args.task].hub_rows["train"]
    return args.quality_epochs * -(-rows // 8)


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


def stored_document(args, entry: dict, fingerprint: str) -> Path:
    """This machine's baseline file with the tuned entry written (its figures kept)."""
    path = baselines.path_for(args.baselines, args.model, fingerprint)
    document = baselines.load(path) or {"model": args.model, "hardware_key": fingerprint,
                                    "hardware": environment.hardware(), "figures": {}}
    key = tuned_choice.key(args.task, entry["device"], 8)
    document = {**document, "tuned": {**(document.get("tuned") or {}), key: entry}}
    baselines.write_atomic(path, document)
    return path


def revision() -> str | None:
    done = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty", "--abbrev=7"],
                          capture_output=True, text=True, timeout=timeouts.GIT_S)  # "-dirty": uncommitted changes
    return done.stdout.strip() or None


def uncommitted() -> list[str] | None:
    """The tracked files with uncommitted changes in the measured tree (what makes `revision()` "-dirty"), or None
    where git cannot tell (not a checkout)."""
    done = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                          capture_output=True, text=True, timeout=timeouts.GIT_S)
    if done.returncode:
        return None
    return [line[3:] for line in done.stdout.splitlines() if line.strip()]


def store_refusal(args) -> str | None:
    """Why --store must not write this tree's choice: a stored choice names the revision it measured, and a tree with
    uncommitted changes is none that can be measured again. None where it may (or with --force-dirty)."""
    if not args.store or args.planted or args.force_dirty:
        return None  # planted runs are never stored
    changed = uncommitted()
    if changed is None:
        return (f"--store: git cannot tell which revision {REPO} is (not a checkout?): run from a clone, or pass "
                "--force-dirty to store the choice marked as from a dirty tree")
    if not changed:
        return None
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return (f"--store from a working tree with uncommitted changes ({shown}): commit them, or pass --force-dirty to "
            "store the choice marked as from a dirty tree (it then carries no speed claim)")


def run(args) -> int:
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
        side = {"baseline": fine_tune(found[baseline], args),
                "choice": (checks.get(choice) or {}).get("run") or fine_tune(found[choice], args)}
        side["ratio"] = side["choice"]["fit_s"] / side["baseline"]["fit_s"]
    for line in table(rows, found, choice, skipped):
        print(line)
    print(f"choice for {fingerprint}: {choice} ({rows[choice]['described']})")
    whole = rows[choice].get("whole")
    if whole and choice != baseline and whole["high"] >= 1.0:
        print(f"  but its whole fine-tune of {whole['steps']} steps, projected with its compiles "
              f"({whole['compile_s']:.0f} s), is not faster: ratio {whole['ratio']:.3f} "
              f"[{whole['low']:.3f}, {whole['high']:.3f}]")
    if found[choice].threads:
        print("  its threads are the process's: set " + " ".join(f"{k}={v}" for k, v in found[choice].env().items())
              + " where it runs (--perf best sets the variant only)")
    if side:
        print(f"whole fine-tunes, {args.quality_epochs} epoch(s): {choice} {side['choice']['fit_s']:.0f} s against "
              f"{baseline} {side['baseline']['fit_s']:.0f} s, {side['ratio']:.3f}x")
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
