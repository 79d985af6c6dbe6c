"""Every judgement of a new figure against stored ones, in one place: the gate (bench/session/suite.py) and the report
(bench/report/cli.py) alike. Pure Python and scipy; imports neither TensorFlow nor transformers.

A band is never typed in:

    half-width = t(q, n-1) * std * sqrt(1 + 1/n)     (prediction interval for one new run)
    band       = [mean - half, mean + half], widened to cover every stored value,
                 plus the figure's resolution (one validation example for accuracy and F1)

with q = 0.995 two-sided for quality, and q = 0.99 one-sided (upper bound only) for step time. A step time
above its bound is timed once more before it fails (check_confirmed): one stall of a shared host is not a
regression. No band, and so no gate (a skip that says why): a figure measured once (n = 1); a band that covers
every value the figure can take (a variant whose outcome depends on the seed); a band that holds a collapse score
(it cannot tell a collapse from a run that learned); a group whose every stored run collapsed. A step time with
sessions of blocks is judged by bench.judge.blocks.stored_gate (check_blocks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as _stats

from bench.judge.figures import MIN_SESSIONS, Figure, stored_sessions

QUALITY_QUANTILE = 0.995  # two-sided 99% prediction interval
SPEED_QUANTILE = 0.99  # one-sided: only a slower step is a regression
SCORE_RANGE = (0.0, 1.0)  # what accuracy and F1 can be


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    half_width: float
    how: str  # the derivation, for messages


def band(figure: Figure, resolution: float = 0.0, upper_only: bool = False) -> Band | None:
    """The band a new run is expected in, or None when one measurement gives no spread."""
    if figure.n < 2:
        return None
    quantile = SPEED_QUANTILE if upper_only else QUALITY_QUANTILE
    t = float(_stats.t.ppf(quantile, figure.n - 1))
    half = t * figure.std * math.sqrt(1 + 1 / figure.n)
    low = (-math.inf if upper_only else min(figure.mean - half, figure.min) - resolution)
    high = max(figure.mean + half, figure.max) + resolution
    how = f"t({quantile}, {figure.n - 1})={t:.2f} x std x sqrt(1+1/n)"
    if resolution:
        how += f" + resolution {resolution:.4g}"
    return Band(low, high, half, how)


def covers(derived: Band, limits: tuple[float, float] | None) -> bool:
    """True when the band holds every value in `limits`, the range the figure can take: it cannot fail."""
    return limits is not None and derived.low <= limits[0] and derived.high >= limits[1]


CREATE = "pytest bench/ --update-baselines --seeds 5"


@dataclass(frozen=True)
class Judgement:
    """One figure against its stored group: passed (None: no gate), why, and what it was judged by. `message()` is
    the gate's sentence, `short()` the report's cell: one decision, two renderings."""

    passed: bool | None
    why: str  # "no baseline", "n=1", "covers", "holds collapse", "all collapsed", "inside", "outside", "collapsed"
    figure: Figure | None = None
    band: Band | None = None
    held: tuple | None = None  # (label, score) of a collapse the band holds
    classes: str = ""  # the classes stored runs collapsed to ("all collapsed"); the run's own class ("collapsed")

    def message(self, name: str, value: float, where: str, upper_only: bool = False, create: str = CREATE) -> str:
        if self.why == "all collapsed":
            return (f"baseline for {name} ({where}): every stored run collapsed ({self.classes}); which class a "
                    "collapse lands on depends on the seed, so no band can gate it; the claims test does")
        if self.why == "no baseline":
            return f"no baseline for {name} ({where}): create it with {create}"
        if self.why == "n=1":
            return f"baseline for {name} ({where}) has n=1, too few for a band: re-measure with --seeds 2 or more"
        figure, derived = self.figure, self.band
        stored = f"baseline mean {figure.mean:.4g}, std {figure.std:.3g}, n={figure.n}"
        shown = f"<= {derived.high:.4g}" if upper_only else f"[{derived.low:.4g}, {derived.high:.4g}]"
        if self.why == "covers":
            return (f"baseline band for {name} ({where}; {stored}) is {shown}, every possible value: this "
                    f"variant's outcome depends on the seed, so no band can gate it; the claims test does")
        if self.why == "holds collapse":
            label, score = self.held
            return (f"baseline band for {name} ({where}; {stored}) is {shown}, which holds {score:.4f}, the score of "
                    f"predicting label {label} for every example: no gate against a collapse. Narrow it with more "
                    f"seeds ({create}); the claims test checks that the fix learns")
        verdict = "inside" if self.passed else "OUTSIDE"
        collapsed = (f"; but the run COLLAPSED to {self.classes}: never inside the band, its score is a constant "
                     "prediction's" if self.why == "collapsed" else "")
        return (f"{name} {value:.4g} is {'inside' if self.why == 'collapsed' else verdict} the baseline band {shown} "
                f"({where}; {stored}; tolerance {derived.half_width:.3g} = {derived.how}){collapsed}")

    def short(self, limits: tuple[float, float] | None = None) -> str:
        if self.why == "all collapsed":
            return "stored runs all collapsed: no gate"
        if self.why == "no baseline":
            return "no band"
        if self.why == "n=1":
            return f"n={self.figure.n}: no band"
        if self.why == "covers":
            return f"n={self.figure.n}: covers [{limits[0]:g}, {limits[1]:g}], no gate"
        if self.why == "holds collapse":
            return f"n={self.figure.n}: holds the collapse score {self.held[1]:.4f}, no gate"
        return (f"[{self.band.low:.4f}, {self.band.high:.4f}] n={self.figure.n} "
                f"{'in' if self.passed else '**OUT**'}{' (collapsed)' if self.why == 'collapsed' else ''}")


def judge(value: float, figure: Figure | None, resolution: float = 0.0, upper_only: bool = False,
          limits: tuple[float, float] | None = None, collapse: dict | None = None,
          collapsed: str | None = None) -> Judgement:
    """`value` against `figure`'s band. No gate (passed None) when there is nothing to compare against, when the
    band covers `limits` (every value the figure can take) and so cannot tell a regression from noise, or when it
    holds a score of `collapse` ({label: the score of predicting it always}) and so cannot tell a collapse from a
    run that learned. A run that `collapsed` (the class it predicts always) is never inside a band that gates: its
    score is a constant prediction's (a regression's has no collapse score for the rule above to find)."""
    if figure is None:
        return Judgement(None, "no baseline")
    derived = band(figure, resolution, upper_only)
    if derived is None:
        return Judgement(None, "n=1", figure)
    if covers(derived, limits):
        return Judgement(None, "covers", figure, derived)
    held = [(label, score) for label, score in sorted((collapse or {}).items())
            if derived.low <= score <= derived.high]
    if held:
        return Judgement(None, "holds collapse", figure, derived, held[0])
    inside = derived.low <= value <= derived.high
    if inside and collapsed:
        return Judgement(False, "collapsed", figure, derived, classes=collapsed)
    return Judgement(inside, "inside" if inside else "outside", figure, derived)


def outside(figure: Figure, values, resolution: float = 0.0) -> tuple[list[float], Band | None]:
    """(the `values` outside `figure`'s band, the band): whether another host's stored runs of a group agree with
    this one's (bench.bands lends a band only among hosts that do). No band (n = 1): nothing is outside."""
    derived = band(figure, resolution)
    if derived is None:
        return [], None
    return [v for v in values if not derived.low <= v <= derived.high], derived


def all_collapsed(group: dict | None) -> bool:
    """Every stored run of a quality group collapsed to one class: a band of such runs (often identical, std 0)
    gates only which class the next collapse lands on, and that depends on the seed."""
    collapsed = (group or {}).get("collapsed") or []
    return bool(collapsed) and all(collapsed)


def judge_quality(name: str, value: float, group: dict | None, resolution: float = 0.0,
                  limits: tuple[float, float] | None = SCORE_RANGE, collapse: dict | None = None,
                  collapsed: str | None = None) -> Judgement:
    """judge() of a GLUE metric against its stored group; no gate where every stored run collapsed."""
    if all_collapsed(group):
        return Judgement(None, "all collapsed", classes=", ".join(sorted(set(group["collapsed"]))))
    figure = Figure.from_dict(group[name]) if group and name in group else None
    return judge(value, figure, resolution, limits=limits, collapse=collapse, collapsed=collapsed)


def check(name: str, value: float, figure: Figure | None, where: str, resolution: float = 0.0,
          upper_only: bool = False, limits: tuple[float, float] | None = None,
          create: str = CREATE, collapse: dict | None = None) -> tuple[bool | None, str]:
    """(passed, message) of judge(); `create`: the command that measures a missing baseline (the session's engine
    and tier in it)."""
    found = judge(value, figure, resolution, upper_only, limits, collapse)
    return found.passed, found.message(name, value, where, upper_only, create)


def check_quality(name: str, value: float, group: dict | None, where: str, resolution: float = 0.0,
                  limits: tuple[float, float] | None = SCORE_RANGE, create: str = CREATE,
                  collapse: dict | None = None, collapsed: str | None = None) -> tuple[bool | None, str]:
    """(passed, message) of judge_quality()."""
    found = judge_quality(name, value, group, resolution, limits, collapse, collapsed)
    return found.passed, found.message(name, value, where, create=create)


def check_confirmed(name: str, value: float, figure: Figure | None, where: str, confirm,
                    create: str = CREATE) -> tuple[bool | None, str]:
    """check() of a step time (upper bound only). A value above the bound is measured once more (`confirm()`,
    the same work timed again) and the faster of the two is judged: a one-off stall of a shared host passes,
    a real slowdown slows both measurements and fails."""
    passed, message = check(name, value, figure, where, upper_only=True, create=create)
    if passed is not False:
        return passed, message
    again = confirm()
    passed, message = check(name, min(value, again), figure, where, upper_only=True)
    return passed, f"{message} [above the bound at first ({value:.4g}), timed again: {again:.4g}]"


def check_blocks(name: str, blocks_ms: list[list[float]], group: dict | None, where: str,
                 confirm=None) -> tuple[bool | None, str, dict | None]:
    """(passed, message, verdict) of a session's blocks (a list of passes, ms/step, per process) against the stored
    sessions (bench.judge.blocks.stored_gate): fails only on a slowdown that is significant and at least the minimum
    effect. A slower verdict is timed once more (`confirm()`: the same processes, as many passes again) and the
    faster session is judged: a one-off stall of a shared host passes, a real slowdown slows both. Skipped (None)
    with fewer than MIN_SESSIONS stored sessions."""
    from bench.judge import blocks

    stored = stored_sessions(group)
    if len(stored) < MIN_SESSIONS:
        return None, (f"{name} ({where}): the baseline holds {len(stored)} session(s) of blocks, the gate needs "
                      f"{MIN_SESSIONS}: run --update-baselines in {MIN_SESSIONS - len(stored)} more session(s)"), None

    def mean_ms(processes) -> float:
        return math.exp(blocks.session_value(processes))

    days = len({d for d in (group or {}).get("session_dates") or [] if d}) or 1  # undated (older): one day
    verdict = blocks.stored_gate(blocks_ms, stored, days=days)
    shape = f"{len(blocks_ms)} process(es) x {len(blocks_ms[0])} blocks"
    shown = f"{name} {mean_ms(blocks_ms):.4g} ms ({shape})"
    if verdict.slower and confirm is not None:
        again = confirm()
        first = mean_ms(blocks_ms)
        if mean_ms(again) < first:
            verdict, blocks_ms = blocks.stored_gate(again, stored, days=days), again
        shown = (f"{name} {mean_ms(blocks_ms):.4g} ms ({shape}; slower at first, {first:.4g} ms; timed again: "
                 f"{mean_ms(again):.4g} ms; the faster judged)")
    return not verdict.slower, f"{shown} against the baseline ({where}): {verdict.describe()}", verdict.to_dict()
