"""The hardware comparison: per runner (fingerprint) x engine x device x precision, the latest night's gated step time
with its 90% interval, MFU and peak memory, and the latest whole fine-tune of the course's recipe (ms/step over
every epoch, and its seconds), each with the night it comes from. MFU is finetune.flops' (achieved / peak: a GPU's
datasheet peak, a CPU's calibration matmul measured in the same night), as the report computes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.history import nights
from bench.history.site.runner import Runner, session_of
from bench.judge import blocks, speedup
from bench.store import contract
from finetune import calibration, flops


@dataclass
class Row:
    fingerprint: str
    engine: str
    device: str
    precision: str
    step_ms: float | None = None
    step_low: float | None = None
    step_high: float | None = None
    step_night: str = ""
    mfu: float | None = None
    peak: str = ""  # what MFU is a fraction of
    memory_mb: float | None = None
    gpu_memory_mb: float | None = None
    fit_ms: float | None = None  # whole epochs: fit() wall time / steps
    fit_s: float | None = None  # the whole fine-tune's seconds (its epochs)
    fit_night: str = ""
    described: str = ""  # the machine in words, where the night recorded it


def peak_of(record: contract.StepTime, calibrated: dict | None) -> flops.Peak | None:
    precision = record.precision or "fp32"
    if record.device == "gpu":
        return flops.peak_for(record.device_name or "", precision)
    measured = calibration.peak_gflops(calibrated, precision)
    return None if measured is None else flops.Peak(measured / 1000.0, precision, "calibration matmul, same night")


def step_figures(record: contract.StepTime) -> tuple[float, float | None, float | None]:
    """(ms/step as the gate sees it, its 90% interval over the processes) of a gated step time."""
    if not record.blocks_ms:
        return record.step_time_ms, None, None
    value = nights.session_ms(record.blocks_ms)
    half = speedup.rate_spread(tuple(blocks.process_means(record.blocks_ms)))
    return value, *((None, None) if half is None else (value * math.exp(-half), value * math.exp(half)))


def rows_of(runner: Runner) -> list[Row]:
    """The runner's rows, newest night first: each (engine, device, precision) from the last night that ran it."""
    rows: dict = {}
    fits: dict = {}
    for night in reversed(runner.nights):
        session = None
        for record in night.records:
            if type(record) is contract.StepTime:
                key = (record.engine, record.device, record.precision or "fp32")
                if key in rows:
                    continue
                session = session or session_of(night)
                ms, low, high = step_figures(record)
                peak = peak_of(record, session.get("calibration"))
                achieved = record.flop_per_s
                rows[key] = Row(runner.fingerprint, *key, ms, low, high, night.name,
                                flops.mfu(achieved, peak) if achieved and peak else None,
                                f"{peak.tflops:g} TFLOP/s {peak.precision}" if peak else "",
                                record.peak_rss_mb, record.peak_gpu_memory_mb,
                                described=(session.get("hardware") or {}).get("described", {}).get(record.device, ""))
            elif type(record) is contract.Quality and record.step_time_ms:
                seconds = sum(record.epoch_s) if record.epoch_s else record.wall_time_s
                fits.setdefault((record.engine, record.device or "cpu"),
                                (record.step_time_ms, seconds, night.name, record.peak_rss_mb))
    for (engine, device), (fit_ms, fit_s, name, memory) in fits.items():
        same = [r for key, r in rows.items() if key[:2] == (engine, device)]
        row = same[0] if same else rows.setdefault((engine, device, "fp32"), Row(runner.fingerprint, engine, device,
                                                                                   "fp32", memory_mb=memory))
        row.fit_ms, row.fit_s, row.fit_night = fit_ms, fit_s, name
    return sorted(rows.values(), key=lambda r: (r.fingerprint, r.engine, r.device, r.precision))


def comparison(runners: list[Runner]) -> list[Row]:
    return [row for runner in runners for row in rows_of(runner)]
