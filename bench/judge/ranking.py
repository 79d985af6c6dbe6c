"""The tune's choice (bench.tune): each candidate's per-replicate ms/step against the baseline candidate's in a paired
test, which ones cannot be told apart from the fastest, the order worth choosing in, the whole fine-tune each
projects to, and whether a candidate's fine-tune reaches the course's quality (its band)."""

from __future__ import annotations

import statistics

from bench.judge import blocks, learning, verdicts


def judged(times: dict, baseline: str, alpha: float = blocks.ALPHA, min_effect: float = blocks.MIN_EFFECT) -> dict:
    """{candidate: its row}: per-replicate mean ms/step (`times[c]`, one value per replicate) against the
    baseline's, a paired test each (blocks.paired_test), and `indistinguishable`: the candidates whose ratio's
    interval overlaps the fastest one's."""
    rows = {}
    for name, values in times.items():
        row = {"ms_per_step": statistics.fmean(values), "replicates_ms": list(values)}
        if name != baseline:
            verdict = blocks.paired_test(times[baseline], values, alpha, min_effect)
            row.update(ratio=verdict.ratio, low=verdict.low, high=verdict.high, p=verdict.p, faster=verdict.faster,
                       slower=verdict.slower, described=verdict.describe())
        else:
            row.update(ratio=1.0, low=1.0, high=1.0, p=None, faster=False, slower=False, described="the baseline")
        rows[name] = row
    fastest = min(rows, key=lambda n: rows[n]["ratio"])
    for name, row in rows.items():
        row["indistinguishable"] = name != fastest and row["low"] <= rows[fastest]["high"]
    return rows


def ranked(rows: dict) -> list[str]:
    return sorted(rows, key=lambda n: rows[n]["ratio"])


def chosen_on(rows: dict) -> dict:
    """The figures a choice rests on: each row's projected whole fine-tune (`projected`: steps and compiles, what a
    user waits for) where every row has one, else its step. A step that XLA makes fast can lose it all to compiles
    (the AMX Xeon: xla-buckets 0.744x by the step, 0.947x by the fine-tune)."""
    if not rows or any("whole" not in row for row in rows.values()):
        return rows
    view = {name: {**row, **{key: row["whole"][key] for key in ("ratio", "low", "high", "faster")}}
            for name, row in rows.items()}
    fastest = min(view, key=lambda n: view[n]["ratio"])
    for name, row in view.items():
        row["indistinguishable"] = name != fastest and row["low"] <= view[fastest]["high"]
    return view


def shortlist(rows: dict, candidates: dict, baseline: str) -> list[str]:
    """The candidates worth choosing, best first: significantly faster than the baseline (p < alpha and at least
    min_effect) by the projected whole fine-tune where every row has one, else by the step (`chosen_on`), by ratio;
    among those that cannot be told apart from the fastest, the ones that change no arithmetic come first (no
    quality is at stake). The baseline closes the list: where nothing pays, it stays."""
    rows = chosen_on(rows)
    faster = [name for name in ranked(rows) if rows[name]["faster"]]
    if faster:
        lead = [n for n in faster if n == faster[0] or rows[n]["indistinguishable"]]
        same = [n for n in lead if not candidates[n].changes_numerics]
        faster = same + [n for n in faster if n not in same]
    return faster + [baseline]


def projected(rows: dict, first_pass_s: dict, batches: int, steps: int, baseline: str) -> None:
    """Each row's whole fine-tune of `steps` steps, projected per replicate from what it measured (in place, as
    row["whole"]): steps x its ms/step plus its compiles, the first pass's time over a steady pass's (tracing, and
    XLA's compile of every shape in the sample; measured on the AMX Xeon, fit() pays them too: xla-buckets' median
    step 0.70x the course's, its one epoch 1.05x). The ratio and interval are a paired test of those seconds
    against the baseline's, as the step's are. A row without first passes (an older worker) gets none."""
    def compiles(name: str) -> list[float] | None:
        firsts = first_pass_s.get(name)
        if not firsts or len(firsts) != len(rows[name]["replicates_ms"]):
            return None
        return [max(first - batches * ms / 1000.0, 0.0) for ms, first in zip(rows[name]["replicates_ms"], firsts)]

    def seconds(name: str, paid: list[float]) -> list[float]:
        return [steps * ms / 1000.0 + c for ms, c in zip(rows[name]["replicates_ms"], paid)]

    base_paid = compiles(baseline)
    for name, row in rows.items():
        paid = compiles(name)
        if base_paid is None or paid is None:
            continue
        mine = seconds(name, paid)
        whole = {"steps": steps, "seconds": statistics.fmean(mine), "compile_s": statistics.fmean(paid)}
        if name == baseline:
            whole.update(ratio=1.0, low=1.0, high=1.0, faster=False)
        else:
            verdict = blocks.paired_test(seconds(baseline, base_paid), mine)
            whole.update(ratio=verdict.ratio, low=verdict.low, high=verdict.high, faster=verdict.faster)
        row["whole"] = whole


def claim_at(row: dict, steps: int) -> tuple[float | None, str] | None:
    """A stored choice's claim (finetune.tuned_choice: its whole fine-tune's upper end, projected by projected()
    for the steps bench.tune chose) for a fine-tune of `steps` steps, where a compile weighs more over fewer steps:
    None where nothing changes (no whole fine-tune stored, or this very length), else (the target or None, why).
    The same model as projected(): (steps x c x the training step's upper end + its compiles) / (steps x c + the
    course's compiles), c the course's seconds a step (the row's baseline_ms_per_step and baseline_compile_s).
    Over the CI tier's 300 steps xla-buckets on the AVX512_BF16 EPYC (51 s of compiles against the course's 11) is
    1.18x, not its 0.907x of 1377 steps."""
    whole = row.get("whole") or {}
    if not isinstance(whole.get("high"), (int, float)) or steps == whole.get("steps"):
        return None
    figures = (row.get("high"), whole.get("compile_s"), row.get("baseline_ms_per_step"), row.get("baseline_compile_s"))
    if not all(isinstance(f, (int, float)) for f in figures):
        return None, (f"its whole fine-tune was projected for {whole.get('steps')} steps and this one has {steps}; "
                      "the compiles it would need to project again are not stored: re-run python -m bench.tune "
                      "--store")
    high, compile_s, course_ms, course_compile_s = figures
    course_s = steps * course_ms / 1000.0
    projected_high = (course_s * high + compile_s) / (course_s + course_compile_s)
    what = (f"its training step's interval projected to a fine-tune of {steps} steps with its compiles "
            f"({compile_s:.0f} s against the course's {course_compile_s:.0f} s)")
    if projected_high >= 1.0:
        return None, (f"{what}: up to {projected_high:.3f}x the course's, not faster over so few steps: no speed "
                      f"claim at this length (its whole fine-tune of {whole.get('steps')} steps claims "
                      f"{whole['high']:.3f}x)")
    return round(projected_high, 3), f"target: the upper end of {what}, {projected_high:.3f}x the course's"


def quality(scores: dict, collapsed: str | None, majority: float | None, num_eval_examples: int, group: dict,
            where: str, limits: dict, collapse: dict) -> dict:
    """A candidate's fine-tune against the fix's stored band `group` (from `where`): {"passed", "why"}. A run that
    did not learn fails whatever its score (a collapse's score can sit inside a wide band); otherwise every GLUE
    metric the group holds must be inside (bench.judge.verdicts.judge_quality, the gate's rule)."""
    state = (scores.get("accuracy"), collapsed, majority, scores.get("pearson"))
    if not learning.learned(*state):
        return {"passed": False, "why": f"{learning.verdict(*state)}: never inside the band ({where})"}
    judged_ = {name: verdicts.judge_quality(name, value, group, 1 / num_eval_examples, limits[name],
                                            collapse.get(name), collapsed)
               for name, value in scores.items() if name in group}
    passed = bool(judged_) and all(j.passed for j in judged_.values())
    text = ", ".join(f"{n} {scores[n]:.4f} {j.short(limits[n])}" for n, j in judged_.items())
    return {"passed": passed, "why": f"{text} ({where})"}
