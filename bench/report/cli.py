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
import sys
from pathlib import Path

from bench.judge import expected
from bench.store import baselines
from bench.report.steps import (CHART_FIGURE, StepRow, expected_rows, pick_reference, plot_step_times, step_rows,
                                step_table)
from bench.report.tables import engine_table, faster_table, multi_worker_table, profile_table, quality_table
from bench.report.runs import Run, differences, load_runs
from finetune.errors import FinetuneError


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


def render(runs: list[Run], steps: list[StepRow], reference: StepRow | None, quality: list[list[str]],
           rejudged: Path | None = None) -> str:
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
              "MFU = achieved / the peak at the row's precision: a GPU's dense datasheet peak (and, marked measured, "
              "its calibration matmul measured in the same run), or a CPU's calibration matmul; n/a where neither is "
              "known. Peak memory: the peak resident set during the benchmark (MB), and the engine's peak GPU memory where "
              "there are GPUs, measured in the process that ran the step (the gated step time: its timing processes).",
              f"Speed-up = reference ms/step / row ms/step, for rows of the reference's task and batch size only "
              "(other rows' steps hold other rows and lengths: the gated step times the first rows, the named "
              f"variants a length sample); reference: {reference.label if reference else 'none'}.",
              ""]
    by_file = ["file"] if len(runs) > 1 else []
    lines += markdown_table([*by_file, "hardware", "engine", "device", "model", "task", "batch", "precision", "variant",
                             "ms/step", "n",
                             "examples/s", "tokens/s", "TFLOP/s", "MFU", "speed-up", "peak memory MB"],
                            step_table(steps, reference, bool(by_file)))
    peaks = {(one.tflops, one.precision, one.source) for row in steps for one in (row.peak, row.measured_peak) if one}
    lines += ["", *(f"- peak {tflops:g} TFLOP/s {precision}: {source}" for tflops, precision, source in sorted(peaks))]
    lines += ["", "Variant \"-\": the course's pipeline timed on prepared batches (bench/test_step_time.py, the gated "
              "figure, on the first training rows); named variants: bench/test_performance.py, each timed on the same "
              "rows, a sample that follows the task's lengths (finetune.steptime.length_sample; files from before "
              "2026-12-03: the first rows). Speed-up intervals: "
              "90%, from each row's timed passes; \"indistinguishable\" where the two rows' intervals overlap. These "
              "are steady training steps on prepared batches; \"Faster than the course\" below is whole fine-tunes "
              "(compiles, retraces and the input pipeline included): the two can disagree, and the second is what a "
              "user waits for.", ""]
    against = expected_rows(steps)
    if against:
        low, high = expected.MFU_RANGE
        lines += ["### GPU rows against their expected step", "",
                  f"Expected: the row's training FLOPs at {100 * high:.0f}-{100 * low:.0f}% MFU of the matmul measured "
                  "in the same run at its precision (bench/judge/expected.py); slower means the GPU waits on something "
                  "else than its matmuls, faster a miscounted FLOP or rate.", ""]
        lines += markdown_table(["row", "training FLOPs/step", "measured matmul TFLOP/s", "expected ms/step",
                                 "ms/step", "verdict"], against)
        lines += [""]
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
    lines += ["", "## Quality", "", "Gate: each figure's outcome as the benchmark recorded it at run time (the band of "
              "this model, hardware and recipe, or one lent by a host of the same numerics; a performance variant "
              "is judged against the band of the recipe it trains with)."
              + (f" Re-judged: each figure judged again against {rejudged} today, by the gate's rule (the stored "
                 "prediction interval widened by one validation example); it differs from the recorded gate where the "
                 "baselines moved since; **OUT** marks a figure outside." if rejudged else ""), ""]
    lines += markdown_table([*by_file, "hardware", "engine", "task", "model", "variant", "loss", "optimizer", "epochs",
                             "train rows", "seed", "scores (the task's GLUE metrics)", "did not learn",
                             "gate (recorded at run time)", *(["re-judged today"] if rejudged else []),
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
    parser.add_argument("--baselines", type=Path, default=baselines.BASELINE_DIR,
                        help="stored baselines folder for --rejudge (default: %(default)s)")
    parser.add_argument("--rejudge", action="store_true",
                        help="also judge every quality figure again against --baselines today (the report shows the "
                             "gate's outcome recorded at run time, and says where it re-judges)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs = load_runs(args.runs)
        steps = step_rows(runs)
        reference = pick_reference(steps, args.reference)
        text = render(runs, steps, reference, quality_table(runs, args.baselines, args.rejudge),
                      args.baselines if args.rejudge else None)
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
