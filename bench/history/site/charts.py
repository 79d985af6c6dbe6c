"""The charts of a runner's page as data for the page's script (assets/site.js draws them with Plotly): each series'
points in parallel lists, the nights once per page (name, revision, time), and each change point's mark (its size,
interval and verdicts). Compact on purpose: 1,000 nights of a runner are one page that must load in a moment.
"""

from __future__ import annotations

import json
import re

from bench.history.site.runner import Chart, Mark, Runner

# figure -> (its title, its order on the page); a GLUE metric: its own name, after the times
FIGURES = {
    "step_time_ms": ("gated step time, ms/step (90% interval over its processes)", 0),
    "step_vs_reference": ("ratio to --reference: this tree's step / the pinned revision's (paired interval)", 1),
    "fit_ms_per_step": ("ms/step over whole epochs (fit() wall time / steps)", 2),
    "peak_rss_mb": ("peak memory: resident set, MB", 8),
    "peak_gpu_memory_mb": ("peak GPU memory, MB", 9),
}
METRIC_ORDER = 5


def title(figure: str) -> str:
    return FIGURES.get(figure, (f"GLUE metric: {figure}", METRIC_ORDER))[0]


def ordered(charts: list[Chart]) -> list[Chart]:
    return sorted(charts, key=lambda c: (FIGURES.get(c.figure, ("", METRIC_ORDER))[1], c.key, c.figure))


def chart_id(chart: Chart) -> str:
    return "chart-" + re.sub(r"[^A-Za-z0-9]+", "-", chart.name).strip("-")


def short(verdict: str) -> str:
    """A verdict line in a few words: the A/B decision and ratio, the bisected commit, who acknowledged."""
    if verdict.startswith("bisected to "):
        return " ".join(verdict.split(" ")[:3])
    if verdict.startswith("acknowledged by "):
        return verdict.split(":")[0]
    return verdict.split(", p =")[0].split(" (")[0]


def label(mark: Mark) -> str:
    """A mark's few words on the chart: its size, and what judged it (one line each)."""
    judged = [short(v) for v in mark.verdicts] or ["no verdict yet" if mark.worse else "no verdict (better)"]
    return "\n".join([mark.size.split(", p =")[0], *judged])


def mark_data(mark: Mark) -> dict:
    return {"night": mark.night, "worse": mark.worse, "label": label(mark), "size": mark.size,
            "revisions": list(mark.revisions), "verdicts": list(mark.verdicts), "judged": mark.judged}


def rounded(values: list) -> list:
    return [None if v is None else float(f"{v:.6g}") for v in values]


def chart_data(chart: Chart) -> dict:
    return {"id": chart_id(chart), "key": chart.key, "figure": chart.figure, "title": title(chart.figure),
            "unit": chart.unit, "x": chart.nights, "y": rounded(chart.values), "low": rounded(chart.lows),
            "high": rounded(chart.highs), "marks": [mark_data(m) for m in chart.marks]}


def page_data(runner: Runner) -> dict:
    return {"fingerprint": runner.fingerprint, "names": [n.name for n in runner.nights],
            "revisions": [n.revision for n in runner.nights], "whens": [n.when for n in runner.nights],
            "charts": [chart_data(c) for c in ordered(runner.charts)]}


def script_json(data: dict) -> str:
    """JSON safe inside <script type="application/json"> (no "</" can close the element)."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
