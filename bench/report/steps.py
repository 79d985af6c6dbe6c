"""The report's step-time rows (one per file, hardware, variant, ...: medians over seeds), their table with
achieved FLOP/s, MFU and speed-ups with intervals, and the step-time chart (bench/report/cli.py renders them)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path


from bench.judge import expected, speedup
from bench.store import contract
from bench.report.runs import Run, hardware_of, records
from finetune import calibration, flops
from finetune.errors import FinetuneError


def variant_label(r) -> str | None:
    """A record's variant as the report names it: a multi-worker one with its workers (multi-worker x2)."""
    variant = getattr(r, "variant", None)
    workers = getattr(r, "workers", None)
    return f"{variant} x{workers}" if variant and workers else variant



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


    @property
    def measured_peak(self) -> flops.Peak | None:
        """A GPU's matmul measured in the same run (the calibration, 8192^3) at the row's precision, or None (CPUs:
        `peak` is already the measured one)."""
        if self.device != "gpu" or self.precision is None:
            return None
        measured = calibration.peak_gflops(self.calibration, self.precision)
        if not measured:
            return None
        return flops.Peak(measured * self.replicas / 1000.0, self.precision,
                          f"measured: {self.calibration.get('size', '?')}^3 {self.precision} matmul on this GPU in the "
                          "same run")


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
            mfu_text(achieved, peak, row.measured_peak),
            "reference" if row is reference else (
                speed_up(reference, row) if same_rows(row, reference) else "other task, batch or rows"),
            memory_text(row.peak_rss_mb, row.peak_gpu_memory_mb),
        ])
    return table


def mfu_text(achieved: float | None, peak: flops.Peak | None, measured: flops.Peak | None) -> str:
    """MFU against the datasheet's (or a CPU's measured) peak, and on GPUs also against the matmul measured there."""
    parts = [f"{100 * flops.mfu(achieved, one):.1f}% of {one.tflops:g} {one.precision}"
             + (" measured" if one is measured else "") for one in (peak, measured)
             if one is not None and achieved is not None]
    return "; ".join(parts) or "n/a"


def expected_rows(rows: list[StepRow]) -> list[list[str]]:
    """GPU rows against their expected step (bench.judge.expected): FLOPs at 30-50% of the matmul measured in the
    same run at the row's precision."""
    table = []
    for row in rows:
        measured = row.measured_peak
        if measured is None or not row.flops_per_step:
            continue
        found = expected.expected(row.flops_per_step, measured.tflops)
        table.append([row.label, f"{row.flops_per_step:.4g}", f"{measured.tflops:g} {measured.precision}",
                      found.text(), f"{row.step_time_ms:.2f}", found.judge(row.step_time_ms)])
    return table


def same_rows(row: StepRow, reference: StepRow) -> bool:
    """Whether two rows' steps hold the same training rows: one task and batch size, and both the gated step
    (the first rows) or both named variants (the length sample)."""
    return ((row.task, row.batch_size, row.variant is None)
            == (reference.task, reference.batch_size, reference.variant is None))


def speed_up(reference: StepRow, row: StepRow) -> str:
    """The report's cell: reference ms/step / row ms/step with its interval (bench.judge.speedup)."""
    return speedup.speed_up(reference.step_time_ms, reference.pass_rates, row.step_time_ms, row.pass_rates).text()


def memory_text(rss_mb: float | None, gpu_mb: float | None) -> str:
    if rss_mb is None:
        return "n/a"
    return f"{rss_mb:,.0f}" + (f" / GPU {gpu_mb:,.0f}" if gpu_mb is not None else "")


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
