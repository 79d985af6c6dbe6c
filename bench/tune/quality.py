"""The tune's quality check: a candidate that changes the arithmetic or the batches is fine-tuned for real with the
course's fix and must land in the stored band of the fix (bench.judge.ranking.quality); the choice goes down the
judge's shortlist until one does, and what `--perf best` means per engine follows from it."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from bench.judge import ranking
from bench.store import baselines
from bench.timing import processes, timeouts
from bench.tune import candidates
from bench.tune.candidates import Candidate
from bench.tune.design import RECIPE, warn, whole_steps
from finetune import compile_cache, metrics
from finetune.errors import FinetuneError
from finetune.tasks import METRIC_RANGE, TASKS


def cache_of(c: Candidate, args) -> Path | None:
    """Candidate `c`'s own XLA cache in this tune (finetune.compile_cache): its first fine-tune finds it empty (cold,
    as on a fresh runner), a second one of the same candidate finds its compiles (warm, as on a nightly's second
    night). None where the tune keeps no caches (args.compile_caches unset)."""
    caches = getattr(args, "compile_caches", None)
    return None if caches is None else Path(caches) / c.text.replace("/", "_").replace("@", "_at_")


def fine_tune(c: Candidate, args) -> dict:
    """A real fine-tune of candidate `c` with the course's fix: its scores, fit()'s time, and how it found its XLA
    cache (cold or warm, or unused where it compiles nothing)."""
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
        env = processes.tree_first({**os.environ, **c.env()}, processes.ROOT)
        cache = cache_of(c, args)
        if cache is not None:
            env[compile_cache.ENV] = str(cache)
        done = timeouts.run(command, cwd=processes.ROOT, env=env,
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
            "majority_accuracy": found.get("majority_accuracy"), "compile_cache": found.get("compile_cache", "off")}


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
