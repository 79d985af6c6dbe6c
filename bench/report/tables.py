"""The report's other tables, each a list of rows of cells from the runs' records: quality (with the gate's
own band judgement), engines side by side, the profile by category, faster than the course, several workers."""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.store import lending
from bench.store import contract
from bench.store import baselines
from bench.judge import verdicts
from bench.report.steps import median_of, memory_text, variant_label
from bench.report.runs import Run, hardware_of, records
from bench.judge import learning
from finetune import bandwidth, metrics
from finetune.errors import FinetuneError
from finetune.tasks import METRIC_RANGE


# --- quality ------------------------------------------------------------------------------------------
def band_text(document: dict | None, key: str, name: str, value: float, resolution: float,
              collapsed: str | None = None) -> str:
    """The report's cell for a quality figure: the gate's own judgement (bench.judge.verdicts.judge_quality), shortened.
    (The report has no data to compute the collapse scores from, so it shows no "holds a collapse" cell.) A run
    that `collapsed` is never in the band: its score is a constant prediction's, whatever band it lands in."""
    if document is None:
        return "no baseline"
    limits = METRIC_RANGE.get(name, verdicts.SCORE_RANGE)
    found = verdicts.judge_quality(name, value, (document.get("figures") or {}).get(key), resolution, limits,
                                   collapsed=collapsed)
    return found.short(limits)


def load_baseline(path: Path) -> dict | None:
    try:
        return baselines.load(path)
    except (OSError, ValueError) as err:  # ValueError: JSONDecodeError and bad UTF-8
        raise FinetuneError(f"baseline {path}: cannot be read ({err.__class__.__name__})") from None


def quality_baseline(baseline_dir: Path, model: str, key: str, run: Run) -> tuple[dict | None, str]:
    """(the baseline document a quality figure of `run` is judged by, "" or " (lent by <fingerprint>)"): the run's
    machine's own group where it gates, else the band another host of the same numerics lends (bench.bands), as
    the gate chose it."""
    document = load_baseline(baselines.path_for(baseline_dir, model, run.hardware_key))
    own = ((document or {}).get("figures") or {}).get(key)
    if own and lending.Holder(run.hardware_key, own).gates():
        return document, ""
    lent, _ = lending.lender(baseline_dir, model, key, run.hardware_key, run.versions)
    if lent is None:
        return document, ""
    return {"figures": {key: lent.group}}, f" (lent by {lent.fingerprint})"


def recorded_text(record) -> str:
    """The gate's outcome as the benchmark recorded it at run time, per figure: passed, FAILED, or skipped and why."""
    if not record.gate:
        return "not recorded"
    return "; ".join(f"{'F1' if name == 'f1' else name} "
                     + ("FAILED" if outcome == "failed" else outcome if outcome == "passed" else brief(outcome))
                     for name, outcome in record.gate.items())


def brief(outcome: str, limit: int = 120) -> str:
    return outcome if len(outcome) <= limit else outcome[:limit - 1] + "…"


def rejudged_text(baseline_dir: Path, key: str, run: Run, r, scores: dict) -> str:
    """Each figure of record `r` judged again today against `baseline_dir` (the band its own machine has there,
    else one lent), as the gate would judge it now."""
    document, lent = quality_baseline(baseline_dir, r.model, key, run)
    if document is None:
        return "no baseline"
    # The gate widens the band by one validation example; older results do not say how many there were.
    resolution = 1 / r.num_eval_examples if r.num_eval_examples else 0.0
    return "; ".join(f"{'F1' if name == 'f1' else name} {band_text(document, key, name, value, resolution, r.collapsed)}"
                     for name, value in scores.items()) + lent


def quality_records(run: Run) -> list:
    """The loss x optimizer fine-tunes (variant "-"), then the performance variants' fine-tunes and the fix on
    several workers, alike."""
    return (records(run, contract.Quality) + records(run, contract.VariantQuality)
            + records(run, contract.MultiWorkerQuality))


def quality_table(runs: list[Run], baseline_dir: Path, rejudge: bool = False) -> list[list[str]]:
    """A row per quality record: its scores and the gate's outcome recorded at run time; with `rejudge`, also each
    figure judged again against `baseline_dir` today (bench.judge.verdicts, the gate's rule), which can differ
    from the recorded outcome where the baselines moved since."""
    table = []
    for run in runs:
        for r in quality_records(run):
            key = baselines.quality_key(r.task, r.loss, r.optimizer, r.epochs, r.max_train_samples, r.batch_size,
                                    r.engine)
            state = learning.state(r)
            collapsed = "" if learning.learned(*state) else f"**{learning.verdict(*state)}**"
            scores = r.scores or {"accuracy": r.accuracy, "f1": r.f1}  # files before `scores`: MRPC's two
            rejudged = [rejudged_text(baseline_dir, key, run, r, scores)] if rejudge else []
            table.append([
                *([run.name] if len(runs) > 1 else []), run.hardware_key, r.engine, r.task or "mrpc", r.model,
                variant_label(r) or "-", r.loss, r.optimizer, str(r.epochs),
                "all" if r.max_train_samples is None else str(r.max_train_samples), "" if r.seed is None else str(r.seed),
                metrics.scores_text(r.scores, r.accuracy, r.f1), collapsed, recorded_text(r), *rejudged,
                "n/a" if r.step_time_ms is None else f"{r.step_time_ms:.0f}",
                "n/a" if r.compile_s is None else f"{r.compile_s:.1f}",
                memory_text(r.peak_rss_mb, r.peak_gpu_memory_mb),
            ])
    return table


# --- engines side by side -----------------------------------------------------------------------------
ENGINE_RECIPE = ("from_logits", "linear-decay")  # the course's fix: the recipe every engine is compared on


def engine_table(runs: list[Run]) -> list[list[str]]:
    """Each engine's fine-tune of the course's fix beside the others': per hardware, engine, task and length (over
    every input file), the median over seeds of fit()'s ms/step over whole epochs, examples/s, peak memory and the
    task's scores; and the gated step time (prepared batches, the course's batch 8) where the inputs have one."""
    fits: dict = {}
    steps: dict = {}
    for run in runs:
        for r in records(run, contract.Quality):
            if (r.loss, r.optimizer) == ENGINE_RECIPE:
                key = (run.hardware_key, r.engine, r.task, r.epochs, r.max_train_samples)
                fits.setdefault(key, []).append(r)
        for r in records(run, contract.StepTime):
            if r.batch_size == 8:
                steps.setdefault((hardware_of(run, r.device), r.engine, r.task), []).append(r.step_time_ms)
    table = []
    for (hardware, engine, task, epochs, rows), found in sorted(fits.items(), key=lambda item: str(item[0])):
        every = [r.scores or {"accuracy": r.accuracy, "f1": r.f1} for r in found]  # files before `scores`: MRPC's
        scores = "; ".join(f"{'F1' if name == 'f1' else name} {statistics.median(s[name] for s in every):.4f}"
                           for name in every[0] if all(s.get(name) is not None for s in every))
        gated = steps.get((hardware, engine, task))
        table.append([hardware, engine, task, str(epochs), "all" if rows is None else str(rows), str(len(found)),
                      f"{median_of(found, 'step_time_ms'):.0f}", f"{median_of(found, 'examples_per_s'):.1f}",
                      "n/a" if not gated else f"{statistics.median(gated):.0f}",
                      memory_text(median_of(found, "peak_rss_mb"), median_of(found, "peak_gpu_memory_mb")), scores])
    return table


# --- where the time goes (--profile) ---------------------------------------------------------------------
def profile_table(runs: list[Run]) -> list[list[str]]:
    """Each profiled variant step (--profile): the profiled pass's ms/step, the threads' busy time, and each
    category's ms per step with its share of the busy time (finetune.profile)."""
    table = []
    for run in runs:
        for r in records(run, contract.VariantStepTime):
            found = r.profile
            if not found:
                continue
            if "unavailable" in found:
                table.append([hardware_of(run, r.device), r.engine, r.variant, "n/a", "n/a", found["unavailable"]])
                continue
            busy = found["busy_ms"] or 1.0
            parts = "; ".join(f"{label} {ms:.0f} ms ({100 * ms / busy:.0f}%)"
                              for label, ms in found["categories"].items())
            if found.get("waiting_ms") is not None:  # recorded since 2026-12-04: a caller's wait, not busy time
                parts += f"; the callers' waits {found['waiting_ms']:.0f} ms (not busy)"
            parts += update_roofline(found, (run.calibration or {}).get("triad_gbps"),
                                     (run.calibration or {}).get("threads") or 1)
            wall = "n/a" if found.get("wall_ms") is None else f"{found['wall_ms']:.1f}"
            table.append([hardware_of(run, r.device), r.engine, r.variant, wall, f"{found['busy_ms']:.1f}", parts])
    return table


def update_roofline(found: dict, gbps: float | None, threads: int = 1) -> str:
    """The optimizer update's row against its memory floor: its bytes a step (finetune.adam.bytes_per_step) at the
    bandwidth measured in the same run on `threads` threads (finetune/bandwidth.py), and its busy time (thread time)
    as a multiple of that floor in thread time (the floor's wall time on every thread the triad used)."""
    if not found.get("update_bytes") or not gbps:
        return ""
    floor = bandwidth.floor_ms(found["update_bytes"], gbps)
    busy = found["categories"].get("optimizer update")
    against = f", busy {busy / (floor * threads):.1f}x the floor's {floor * threads:.0f} thread-ms" if busy else ""
    return (f"; update roofline: {found['update_bytes'] / 1e6:.0f} MB a step at {gbps:g} GB/s on {threads} "
            f"thread(s) = floor {floor:.1f} ms{against}")


# --- faster than the course ---------------------------------------------------------------------------
def faster_table(runs: list[Run]) -> list[list[str]]:
    """bench/test_performance.py's interleaved comparison of the best variant with the course's pipeline."""
    table = []
    for run in runs:
        for r in records(run, contract.Faster):
            table.append([*([run.name] if len(runs) > 1 else []), hardware_of(run, r.device), r.engine,
                          r.device_name or r.device, r.variant, f"{r.course_step_time_ms:.1f}", f"{r.step_time_ms:.1f}",
                          f"{r.course_step_time_ms / r.step_time_ms:.2f}x", r.comparison or ""])
    return table


def multi_worker_table(runs: list[Run]) -> list[list[str]]:
    """bench/test_multi_worker.py's step times: the world, the one-process figure beside it, the all-reduce."""
    def ms(value):
        return "n/a" if value is None else f"{value:.1f}"

    table = []
    for run in runs:
        for r in records(run, contract.MultiWorkerStepTime):
            table.append([*([run.name] if len(runs) > 1 else []), hardware_of(run, r.device), r.engine, r.model,
                          f"{r.workers} x {r.replicas_per_worker}", str(r.hosts or "?"), r.collective or "n/a",
                          f"{r.batch_size} ({r.worker_batch_size} a worker)", ms(r.step_time_ms),
                          ms(r.single_process_step_time_ms),
                          "n/a" if r.scaling_efficiency is None else f"{r.scaling_efficiency:.2f}",
                          "n/a" if r.allreduce_ms is None else f"{r.allreduce_ms:.1f} ({r.allreduce_share:.0%})",
                          r.speed_claim or "-"])
    return table
