"""A markdown report and a step-time chart from the benchmark suite's pytest-benchmark JSON files.

    python -m bench.report out/nightly.json [more.json ...] --out out/report [--reference cpu] [--baselines DIR]

The files may come from different machines and dates: every row names the file and hardware it was
measured on, and the "Differences" section says where files differ in library versions or configuration.
Repeated seeds of one variant are one row: the median step time, with the number of seeds as n. The
performance variants' fine-tunes are quality rows beside the loss x optimizer ones, judged against the band
of the recipe they train with, as bench/test_performance.py's gate does.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from scipy import stats as _stats

from bench import contract, store, verdicts
from bench.results import Run, differences, hardware_of, load_runs, records
from finetune import calibration, flops, metrics
from finetune.errors import FinetuneError
from finetune.tasks import METRIC_RANGE


# --- step time ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepRow:
    label: str  # unique per row; --reference matches a substring of it
    run: str  # the file it came from
    hardware: str
    device: str  # "cpu" or "gpu"
    device_name: str
    model: str
    batch_size: int
    precision: str | None
    variant: str | None  # a performance variant's name; None for the course's step-time benchmark
    n: int  # seeds
    step_time_ms: float  # median over seeds, as are the rates
    examples_per_s: float
    tokens_per_s: float
    flops_per_step: float | None
    peak_rss_mb: float | None = None
    peak_gpu_memory_mb: float | None = None
    calibration: dict | None = None  # the file's calibration matmul: the CPU's measured peak
    replicas: int = 1  # devices the step ran on (MirroredStrategy): the peak is per device
    task: str = "mrpc"
    pass_rates: tuple = ()  # examples/s of every timed pass of every seed (a seed without passes: its figure)
    engine: str = "tf-keras"  # tf-keras, or keras3-<backend>

    @property
    def flops_per_s(self) -> float | None:
        return None if self.flops_per_step is None else self.flops_per_step / (self.step_time_ms / 1000.0)

    @property
    def peak(self) -> flops.Peak | None:
        """GPUs: the datasheet's dense peak (finetune.flops). CPUs: the calibration matmul measured in the same run
        at the row's precision, where the file records one (files from before calibration: n/a)."""
        if self.precision is None:
            return None
        if self.device == "gpu":
            one = flops.peak_for(self.device_name, self.precision)
            if one is None or self.replicas == 1:
                return one
            return flops.Peak(one.tflops * self.replicas, one.precision, f"{self.replicas} x {one.source}")
        measured = calibration.peak_gflops(self.calibration, self.precision)
        if measured is None:
            return None
        return flops.Peak(measured / 1000.0, self.precision,
                          f"measured: {self.calibration['size']}^3 {self.precision} matmul on this CPU in the same run")


def pass_rates(r, stats: dict | None = None) -> list:
    """Examples/s of each timed pass of a step-time record: its examples/s scaled by the mean pass over each pass
    (blocks_ms: ms per step, per process; else pass_times_s). A record that kept no passes: pytest-benchmark's
    rounds (each a pass), as their slowest and fastest (`stats`). [] where there is no more than one pass."""
    passes = [ms for block in r.blocks_ms for ms in block] if r.blocks_ms else list(r.pass_times_s or [])
    if len(passes) < 2 and stats and (stats.get("rounds") or 0) >= 2 and stats.get("min"):
        mean = stats["mean"]
        return [r.examples_per_s * mean / stats["max"]] + [r.examples_per_s] * (stats["rounds"] - 2) + [
            r.examples_per_s * mean / stats["min"]]
    if len(passes) < 2:
        return []
    mean = statistics.fmean(passes)
    return [r.examples_per_s * mean / value for value in passes]


def median_of(found: list, field: str) -> float | None:
    values = [getattr(r, field) for r in found if getattr(r, field, None) is not None]
    return statistics.median(values) if values else None


def step_rows(runs: list[Run]) -> list[StepRow]:
    calibrations = {run.name: run.calibration for run in runs}
    groups: dict = {}
    for run in runs:
        for r in records(run, contract.StepTime, contract.VariantStepTime, contract.MultiWorkerStepTime):
            key = (run.name, hardware_of(run, r.device), r.device_name, r.model, r.device, r.batch_size, r.precision,
                   variant_label(r), r.task, r.engine)
            groups.setdefault(key, []).append(r)
    tasks = {key[-2] for key in groups}
    engines = {key[-1] for key in groups}

    def spread(infos) -> tuple:  # every timed pass; a seed that kept no passes counts with its figure
        return tuple(rate for r in infos for rate in (pass_rates(r, stats[id(r)]) or [r.examples_per_s]))

    stats = {id(record): found for run in runs for record, found in zip(run.records, run.stats)}

    rows = []
    for (name, hardware, device_name, model, device, batch_size, precision, variant, task, engine), infos in groups.items():
        prefix = f"{name}: " if len(runs) > 1 else ""
        label = (f"{prefix}{hardware} {model} {device} batch {batch_size}" + (f" {precision}" if precision else "")
                 + (f" {variant}" if variant else "") + (f" {task}" if len(tasks) > 1 else "")
                 + (f" {engine}" if len(engines) > 1 else ""))
        rows.append(StepRow(label, name, hardware, device, device_name, model, batch_size, precision, variant,
                            len(infos),
                            *(median_of(infos, field) for field in
                              ("step_time_ms", "examples_per_s", "tokens_per_s", "flops_per_step", "peak_rss_mb",
                               "peak_gpu_memory_mb")),
                            calibrations[name], int(median_of(infos, "replicas") or 1), task,
                            spread(infos), engine))
    return rows


def pick_reference(rows: list[StepRow], substring: str | None) -> StepRow | None:
    if substring is None or not rows:
        return rows[0] if rows else None
    for row in rows:
        if substring in row.label:
            return row
    raise FinetuneError(f"--reference {substring!r} matches no step-time row; rows are: "
                        + "; ".join(row.label for row in rows))


def step_table(rows: list[StepRow], reference: StepRow | None, by_file: bool) -> list[list[str]]:
    table = []
    for row in rows:
        achieved, peak = row.flops_per_s, row.peak
        utilisation = flops.mfu(achieved, peak) if achieved is not None else None
        table.append([
            *([row.run] if by_file else []), row.hardware, row.engine, row.device_name, row.model, row.task,
            str(row.batch_size),
            row.precision or "n/a", row.variant or "-", f"{row.step_time_ms:.1f}", str(row.n),
            f"{row.examples_per_s:.1f}", f"{row.tokens_per_s:,.0f}",
            "n/a" if achieved is None else f"{achieved / 1e12:.2f}",
            "n/a" if utilisation is None else f"{100 * utilisation:.1f}% of {peak.tflops:g} {peak.precision}",
            "reference" if row is reference else (
                speed_up(reference, row) if same_rows(row, reference) else "other task, batch or rows"),
            memory_text(row.peak_rss_mb, row.peak_gpu_memory_mb),
        ])
    return table


def same_rows(row: StepRow, reference: StepRow) -> bool:
    """Whether two rows' steps hold the same training rows: one task and batch size, and both the gated step
    (the first rows) or both named variants (the length sample)."""
    return ((row.task, row.batch_size, row.variant is None)
            == (reference.task, reference.batch_size, reference.variant is None))


def rate_spread(rates: tuple) -> float | None:
    """The 90% t half-width, on the log scale, of a row's mean examples/s from its timed passes."""
    if len(rates) < 2:
        return None
    logs = [math.log(v) for v in rates]
    return float(_stats.t.ppf(0.95, len(logs) - 1)) * statistics.stdev(logs) / math.sqrt(len(logs))


def speed_up(reference: StepRow, row: StepRow) -> str:
    """reference ms/step / row ms/step, with a 90% interval from both rows' passes (their half-widths combined on
    the log scale, around the figure); "indistinguishable" where it holds 1."""
    ratio = reference.step_time_ms / row.step_time_ms
    text = f"{ratio:.3g}x"
    mine, theirs = rate_spread(row.pass_rates), rate_spread(reference.pass_rates)
    if mine is None or theirs is None:
        return text
    half = math.hypot(mine, theirs)
    low, high = ratio * math.exp(-half), ratio * math.exp(half)
    return text + f" [{low:.3g}, {high:.3g}]" + (", indistinguishable" if low <= 1.0 <= high else "")


def memory_text(rss_mb: float | None, gpu_mb: float | None) -> str:
    if rss_mb is None:
        return "n/a"
    return f"{rss_mb:,.0f}" + (f" / GPU {gpu_mb:,.0f}" if gpu_mb is not None else "")


def gate_text(record) -> str:
    """The comparison's outcome as the benchmark recorded it ("gate" in extra_info), one word per figure."""
    gate = record.gate
    if not gate:
        return "not recorded"
    words = {name: outcome.split(":")[0] for name, outcome in gate.items()}
    return "; ".join(f"{name} {word}" for name, word in words.items())


@dataclass(frozen=True)
class Bar:
    """One bar of the chart: a hardware and variant, its median examples/s and the spread of its passes."""
    label: str
    colour_key: str  # the file and hardware: one colour each
    examples_per_s: float  # the row's figure: the median over seeds
    low: float | None  # the slowest and fastest timed pass; None where the row has one measurement only
    high: float | None
    n: int  # timed passes behind the spread (seeds where no passes were recorded)


def chart_panels(rows: list[StepRow]) -> dict:
    """The chart's panels: {(task, batch size): [Bar, ...]}, like with like. A panel holds one task at one batch size
    (examples/s differ with the rows' lengths and the batch); its bars are sorted by hardware, then variant."""
    panels: dict = {}
    for row in sorted(rows, key=lambda r: (r.task, r.batch_size, r.run, r.hardware, r.engine, r.variant or "")):
        rates = row.pass_rates
        spread = (min(rates), max(rates), len(rates)) if len(rates) > 1 else (None, None, row.n)
        prefix = f"{row.run}: " if len({r.run for r in rows}) > 1 else ""
        engine = f" {row.engine}" if len({r.engine for r in rows}) > 1 else ""
        label = (f"{prefix}{row.hardware}{engine}\n{row.device} {row.precision or ''} "
                 f"{row.variant or 'course (gated step)'}").replace("  ", " ")
        panels.setdefault((row.task, row.batch_size), []).append(
            Bar(label, f"{row.run} {row.hardware}", row.examples_per_s, *spread))
    return panels


CHART_FIGURE = ("examples per second (higher is faster): bars, the median over seeds; lines, the slowest to the "
                "fastest timed pass, or seed where the passes were not kept (n: how many); a diamond, a figure "
                "measured once. One panel per task and batch size")


def plot_step_times(rows: list[StepRow], path: Path) -> None:
    # Figure without pyplot: no process-wide backend or figure registry; savefig renders PNG with Agg.
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    panels = chart_panels(rows)
    heights = [max(len(bars), 1) for bars in panels.values()] or [1]
    figure = Figure(figsize=(10, 1.2 + 0.55 * sum(heights) + 0.6 * len(heights)))
    axes_list = figure.subplots(len(heights), 1, squeeze=False, height_ratios=heights)[:, 0]
    colours = {key: f"C{i % 10}" for i, key in enumerate(dict.fromkeys(b.colour_key for bs in panels.values()
                                                                      for b in bs))}
    for axes, ((task, batch_size), bars) in zip(axes_list, panels.items()):
        positions = range(len(bars))
        values = [bar.examples_per_s for bar in bars]
        drawn = axes.barh(positions, values, color=[colours[bar.colour_key] for bar in bars], alpha=0.8)
        for y, bar in zip(positions, bars):
            if bar.low is None:
                axes.plot([bar.examples_per_s], [y], marker="D", color="black", markersize=5)
            else:
                axes.plot([bar.low, bar.high], [y, y], color="black", linewidth=1.5)
        axes.set_yticks(list(positions), [f"{bar.label} (n={bar.n})" for bar in bars], fontsize=7)
        axes.invert_yaxis()
        axes.bar_label(drawn, [f"{v:.3g}" for v in values], fontsize=7, padding=3, label_type="center")
        top = max(max(v, bar.high or 0) for v, bar in zip(values, bars))
        if top / min(values) > 50:  # CPU and GPU rows differ by orders of magnitude
            axes.set_xscale("log")
            axes.xaxis.set_minor_formatter(NullFormatter())
        else:
            axes.set_xlim(0, top * 1.1)
        axes.set_title(f"{task.upper()}, batch {batch_size}", fontsize=9, loc="left")
    if not panels:
        axes_list[0].text(0.5, 0.5, "no step-time benchmarks in the input", ha="center", va="center")
    axes_list[-1].set_xlabel("examples per second (higher is faster); line: slowest to fastest pass (or seed); "
                             "diamond: measured once", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


# --- quality ------------------------------------------------------------------------------------------
def band_text(document: dict | None, key: str, name: str, value: float, resolution: float) -> str:
    """The report's cell for a quality figure: the gate's own judgement (bench.verdicts.judge_quality), shortened.
    (The report has no data to compute the collapse scores from, so it shows no "holds a collapse" cell.)"""
    if document is None:
        return "no baseline"
    limits = METRIC_RANGE.get(name, verdicts.SCORE_RANGE)
    found = verdicts.judge_quality(name, value, (document.get("figures") or {}).get(key), resolution, limits)
    return found.short(limits)


def load_baseline(path: Path) -> dict | None:
    try:
        return store.load(path)
    except (OSError, ValueError) as err:  # ValueError: JSONDecodeError and bad UTF-8
        raise FinetuneError(f"baseline {path}: cannot be read ({err.__class__.__name__})") from None


def quality_records(run: Run) -> list:
    """The loss x optimizer fine-tunes (variant "-"), then the performance variants' fine-tunes and the fix on
    several workers, alike."""
    return (records(run, contract.Quality) + records(run, contract.VariantQuality)
            + records(run, contract.MultiWorkerQuality))


def variant_label(r) -> str | None:
    """A record's variant as the report names it: a multi-worker one with its workers (multi-worker x2)."""
    variant = getattr(r, "variant", None)
    workers = getattr(r, "workers", None)
    return f"{variant} x{workers}" if variant and workers else variant


def quality_table(runs: list[Run], baseline_dir: Path) -> list[list[str]]:
    table = []
    for run in runs:
        for r in quality_records(run):
            document = load_baseline(store.path_for(baseline_dir, r.model, run.hardware_key))
            key = store.quality_key(r.task, r.loss, r.optimizer, r.epochs, r.max_train_samples, r.batch_size,
                                    r.engine)
            # The gate widens the band by one validation example; older results do not say how many there were.
            resolution = 1 / r.num_eval_examples if r.num_eval_examples else 0.0
            state = metrics.state(r)
            collapsed = "" if metrics.learned(*state) else f"**{metrics.verdict(*state)}**"
            scores = r.scores or {"accuracy": r.accuracy, "f1": r.f1}  # files before `scores`: MRPC's two
            bands = "no baseline" if document is None else "; ".join(
                f"{'F1' if name == 'f1' else name} {band_text(document, key, name, value, resolution)}"
                for name, value in scores.items())
            table.append([
                *([run.name] if len(runs) > 1 else []), run.hardware_key, r.engine, r.task or "mrpc", r.model,
                variant_label(r) or "-", r.loss, r.optimizer, str(r.epochs),
                "all" if r.max_train_samples is None else str(r.max_train_samples), "" if r.seed is None else str(r.seed),
                metrics.scores_text(r.scores, r.accuracy, r.f1), collapsed, bands, gate_text(r),
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
            wall = "n/a" if found.get("wall_ms") is None else f"{found['wall_ms']:.1f}"
            table.append([hardware_of(run, r.device), r.engine, r.variant, wall, f"{found['busy_ms']:.1f}", parts])
    return table


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


# --- the report ---------------------------------------------------------------------------------------
def markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["(none in the input)"]
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows)]


def calibration_text(found: dict | None) -> str:
    if not found:
        return "not recorded"
    return ", ".join(f"{name.split('_')[0]} {value:g}" for name, value in found.items() if name.endswith("_gflops"))


def render(runs: list[Run], steps: list[StepRow], reference: StepRow | None, quality: list[list[str]]) -> str:
    lines = ["# Fine-tuning benchmark report", "", "## Inputs", ""]
    lines += markdown_table(["file", "measured (UTC)", "commit", "hardware (fingerprint)", "machine", "GPUs",
                             "calibration GFLOP/s"],
                            [[r.name, r.when, r.commit, r.hardware_key, r.described(),
                              ", ".join((r.hardware or {}).get("gpus", [])) or "none", calibration_text(r.calibration)]
                             for r in runs])
    engines = engine_table(runs)
    if engines:
        lines += ["", "## Engines", "", "The course's fix (from_logits + linear-decay) on each engine: medians over seeds "
                  "(n) of whole fine-tunes (ms/step = fit() wall time over every epoch / steps), the gated step time "
                  "at batch 8 on prepared batches where the inputs have it, the peak memory and the task's scores.", ""]
        lines += markdown_table(["hardware", "engine", "task", "epochs", "train rows", "n", "ms/step (whole epochs)",
                                 "examples/s", "gated ms/step (batch 8)", "peak memory MB", "scores"], engines)
    lines += ["", "## Step time", "", "![step time](step_time.png)", "", f"The chart: {CHART_FIGURE}.", "",
              "Median over seeds (n). Achieved FLOP/s = training FLOPs per step (finetune.flops) / step time; "
              "MFU = achieved / the peak at the row's precision: a GPU's dense datasheet peak, or a CPU's calibration "
              "matmul measured in the same run; n/a where neither is known. Peak memory: the process's peak resident "
              "set during the benchmark (MB), and TensorFlow's peak GPU memory where there are GPUs.",
              f"Speed-up = reference ms/step / row ms/step, for rows of the reference's task and batch size only "
              "(other rows' steps hold other rows and lengths: the gated step times the first rows, the named "
              f"variants a length sample); reference: {reference.label if reference else 'none'}.",
              ""]
    by_file = ["file"] if len(runs) > 1 else []
    lines += markdown_table([*by_file, "hardware", "engine", "device", "model", "task", "batch", "precision", "variant",
                             "ms/step", "n",
                             "examples/s", "tokens/s", "TFLOP/s", "MFU", "speed-up", "peak memory MB"],
                            step_table(steps, reference, bool(by_file)))
    peaks = {(row.peak.tflops, row.peak.precision, row.peak.source) for row in steps if row.peak}
    lines += ["", *(f"- peak {tflops:g} TFLOP/s {precision}: {source}" for tflops, precision, source in sorted(peaks))]
    lines += ["", "Variant \"-\": the course's pipeline timed on prepared batches (bench/test_step_time.py, the gated "
              "figure, on the first training rows); named variants: bench/test_performance.py, each timed on the same "
              "rows, a sample that follows the task's lengths (finetune.steptime.length_sample; files from before "
              "2026-12-03: the first rows). Speed-up intervals: "
              "90%, from each row's timed passes; \"indistinguishable\" where the two rows' intervals overlap. These "
              "are steady training steps on prepared batches; \"Faster than the course\" below is whole fine-tunes "
              "(compiles, retraces and the input pipeline included): the two can disagree, and the second is what a "
              "user waits for.", ""]
    profiled = profile_table(runs)
    if profiled:
        lines += ["### Where the time goes", "",
                  "One more pass of each variant's step-time benchmark under the framework's profiler (--profile; "
                  "finetune/profile.py): every event's self time by category, per step. Busy = the threads' time, "
                  "which on several cores exceeds the step's wall time, less the callers' waits for the pool's "
                  "threads; MFU is in the table above.", ""]
        lines += markdown_table(["hardware", "engine", "variant", "profiled ms/step", "busy ms/step",
                                 "by category"], profiled)
        lines += [""]
    faster = faster_table(runs)
    if faster:
        lines += ["### Faster than the course", "",
                  "The best variant for the host and the course's configuration: whole fine-tunes where the file "
                  "says so (ms/step = fit() wall time over every epoch / steps), else passes over the same batches.",
                  ""]
        lines += markdown_table([*by_file, "hardware", "engine", "device", "variant", "course ms/step", "variant ms/step",
                                 "speed-up", "how"], faster)
        lines += [""]
    several = multi_worker_table(runs)
    if several:
        lines += ["### Several workers", "",
                  "bench/test_multi_worker.py under bench.launch or a scheduler: the course's step at the recipe's "
                  "global batch over every worker, timed on the chief; one process at the same global batch and "
                  "rows beside it; scaling efficiency = one process / (workers x several); the all-reduce of one "
                  "step's gradients timed alone, and its share of the step.", ""]
        lines += markdown_table([*by_file, "hardware", "engine", "model", "workers x replicas", "hosts", "collective",
                                 "global batch", "ms/step", "one process ms/step", "scaling efficiency",
                                 "all-reduce ms (share)", "speed claim"], several)
        lines += [""]
    lines += ["", "## Quality", "", "Bands: the stored baseline's prediction interval (bench.store) for this "
              "model, hardware and loss x optimizer, widened by one validation example where extra_info records "
              "num_eval_examples, as the gate does; **OUT** marks a figure outside it. A performance variant "
              "(variant other than \"-\") is judged against the band of the recipe it trains with.", ""]
    lines += markdown_table([*by_file, "hardware", "engine", "task", "model", "variant", "loss", "optimizer", "epochs",
                             "train rows", "seed", "scores (the task's GLUE metrics)", "did not learn", "bands", "gate",
                             "ms/step (whole epochs)", "compile s", "peak memory MB"], quality)
    lines += ["", "## Differences", "", *differences(runs), ""]
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path,
                        help="pytest-benchmark JSON files (pytest bench/ --benchmark-json=PATH)")
    parser.add_argument("--out", type=Path, required=True, help="folder for report.md and step_time.png")
    parser.add_argument("--reference", default=None,
                        help="speed-ups are relative to the first step-time row containing this text "
                             "(default: the first row)")
    parser.add_argument("--baselines", type=Path, default=store.BASELINE_DIR,
                        help="stored baselines folder (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs = load_runs(args.runs)
        steps = step_rows(runs)
        reference = pick_reference(steps, args.reference)
        text = render(runs, steps, reference, quality_table(runs, args.baselines))
        try:
            import matplotlib  # noqa: F401  (checked before anything is written)
        except ImportError:
            raise FinetuneError("matplotlib is not installed: pip install -e '.[report]'") from None
        try:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "report.md").write_text(text, encoding="utf-8")
            plot_step_times(steps, args.out / "step_time.png")
        except OSError as err:
            raise FinetuneError(f"--out {args.out}: cannot write there ({err.strerror or err})") from None
    except FinetuneError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out / 'report.md'} and {args.out / 'step_time.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
