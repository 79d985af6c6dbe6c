"""What one runner's page shows, as data: its nights, each figure's series with every point's night, revision, date,
value and interval, and each change point marked with its size, interval and verdicts; the nights and verdict files
that could not be read. The judgements are bench.history.cli's and bench/judge's, called here, never redone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.history import cli, nights
from bench.judge import blocks, changes, speedup


@dataclass(frozen=True)
class Mark:
    """A change point on a chart: its first night (0-based index into the runner's nights) and what judged it."""

    night: int
    worse: bool
    size: str  # the change's size and interval, as the listing says it (bench.judge.changes.Change.describe)
    effect: float
    low: float
    high: float
    revisions: tuple  # the range it landed in: the last night surely before, the last that may be its first
    verdicts: tuple  # one line per verdict beside the night that judges it (A/B, bisected commit, acknowledged)
    judged: bool


@dataclass(frozen=True)
class Chart:
    """One series: points as parallel lists (nights are indexes into the runner's nights)."""

    key: str
    figure: str
    unit: str
    nights: list
    values: list
    lows: list  # None where the point has no interval
    highs: list
    marks: list

    @property
    def name(self) -> str:
        return f"{self.key} {self.figure}"


@dataclass
class Runner:
    fingerprint: str
    nights: list  # bench.history.nights.Night, oldest first
    charts: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)  # one line per night or verdict file left out
    analysed: tuple = ()  # (nights, [(Series, [Change])]) as bench.history.cli.analysed gives them
    stored: dict = field(default_factory=dict)  # {night: [verdicts]} as bench.history.cli.night_verdicts gives them

    @property
    def latest(self):
        return self.nights[-1] if self.nights else None


def interval(figure: str, record, point: nights.Point) -> tuple[float | None, float | None]:
    """A point's interval where its night recorded one: the gated step time's 90% t interval over its processes'
    means (bench.judge.speedup.rate_spread, the report's intervals); the ratio to --reference, the paired ratio's
    interval the night recorded; none for one fine-tune's figures (one seed, one number)."""
    if figure == "step_time_ms" and point.blocks_ms:
        half = speedup.rate_spread(tuple(blocks.process_means(point.blocks_ms)))
        return (None, None) if half is None else (point.value * math.exp(-half), point.value * math.exp(half))
    if figure == nights.REFERENCE_FIGURE:
        reference = getattr(record, "reference", None) or {}
        return reference.get("low"), reference.get("high")
    return None, None


def records_by_point(found: list) -> dict:
    """{(key, figure, night index): [the records that gave its points, in order]}: each point's record, for what the
    series keeps no copy of (a ratio's recorded interval)."""
    by_point: dict = {}
    for index, night in enumerate(found):
        for record in night.records:
            for key, figure, *_ in nights.figures_of(record):
                by_point.setdefault((nights.on_its_cpu(key, night), figure, index), []).append(record)
    return by_point


def verdict_line(verdict: dict) -> str:
    """A verdict as the chart's mark shows it: what decided, in a few words (the listing's sentence, shortened)."""
    if verdict.get("what") == "bisect" and verdict.get("first_slow"):
        short, subject = str(verdict["first_slow"])[:7], str(verdict.get("subject") or "")
        return f"bisected to {subject if subject.startswith(short) else short}"
    return cli.verdict_text(verdict)


def mark_of(found: list, s: nights.Series, change: changes.Change, stored: dict) -> Mark:
    entry = cli.change_entry(found, s, change, stored)  # the listing's own entry: same revisions, same verdicts
    return Mark(s.points[change.index].night, change.worse, change.describe(), change.effect, change.low, change.high,
                tuple(entry["revisions"]), tuple(verdict_line(v) for v in entry["verdicts"]), entry["judged"])


def chart_of(found: list, s: nights.Series, found_changes: list, stored: dict, by_point: dict) -> Chart:
    taken: dict = {}
    lows, highs = [], []
    for p in s.points:
        place = (s.key, s.figure, p.night)
        records = by_point.get(place, [None])
        record = records[min(taken.get(place, 0), len(records) - 1)]
        taken[place] = taken.get(place, 0) + 1
        low, high = interval(s.figure, record, p)
        lows.append(low)
        highs.append(high)
    return Chart(s.key, s.figure, changes.rule_for(s.figure).unit, [p.night for p in s.points], s.values(), lows,
                 highs, [mark_of(found, s, c, stored) for c in found_changes])


def load(directory: Path, fingerprint: str) -> Runner:
    """One runner's page data: its nights read once, every series analysed once (bench.history.cli.analysed)."""
    problems: list = []
    found, analysed_ = cli.analysed(directory, fingerprint, problems)
    stored, unreadable_verdicts = cli.night_verdicts(directory, fingerprint)
    by_point = records_by_point(found)
    runner = Runner(fingerprint, found, unreadable=[relative(directory, p) for p in problems + unreadable_verdicts],
                    analysed=(found, analysed_), stored=stored)
    runner.charts = [chart_of(found, s, cs, stored, by_point) for s, cs in analysed_]
    return runner


def relative(directory: Path, problem: str) -> str:
    """A problem line with the history folder's path taken off its file's name (the site may be served anywhere)."""
    prefix = f"{Path(directory)}/"
    return problem[len(prefix):] if problem.startswith(prefix) else problem


def session_of(night: nights.Night) -> dict:
    """What the night's file says of its session beyond its records: finetune_history (its tests) and the
    calibration; {} where it cannot be read again (it was read a moment ago, so this is rare)."""
    try:
        document = json.loads(night.path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    machine = (document.get("machine_info") or {}).get("finetune") or {}
    return {"tests": (document.get("finetune_history") or {}).get("tests") or {},
            "calibration": machine.get("calibration"), "hardware": machine.get("hardware") or {}}
