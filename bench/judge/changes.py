"""Change points in one figure's series of nights: where its level moved, by how much, and between which revisions.

The method is Mozilla Perfherder's (treeherder's perfalert `detect_changes`): for each night, the nights before it
(the back window) against it and the nights after (the fore window), a t statistic on the two means; a night
whose statistic passes the threshold and is larger than both neighbours' is the first night of a change. Two
choices differ from Perfherder's, both for a series of a few nights on one shared host:

- the threshold is a p-value from Student's t (pooled variance: the same host's noise on both sides) instead of a
  fixed t > 7, so that short windows (a new runner's first nights) are judged by their own degrees of freedom;
- the windows are sized by the replay of measured nights (bench/history/replay.py): BACK and FORE below.

Times and memory are judged on the log scale (noise is multiplicative; a change is a ratio); scores on their own
scale (a change is a difference). A change also needs the figure's minimum effect. The back window starts after
the previous change, so one step is reported once. The series is judged as it stood when each night arrived, and
a change once found stays found (a reverted regression and its revert are both reported). Pure Python and scipy:
no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import statistics
from dataclasses import dataclass

from scipy import stats as _stats

BACK = 24  # nights before a candidate night, at most (Perfherder: 12 to 24; the replay: 24 finds 10% sooner)
FORE = 12  # the candidate night and those after it, at most (Perfherder: 12)
MIN_BACK = 4  # fewer nights before a candidate: no decision yet
MIN_FORE = 3  # fewer nights from the candidate on: no decision yet (the newest nights wait for more)
SPAN_T = 2.0  # nights whose |t| is within this of the change's are as likely its first night (t's own sd is ~1)
ALPHA = 0.001  # two-sided, per candidate night (bench/history/replay.py: the false-alarm rate over 30 nights it gives)


@dataclass(frozen=True)
class Rule:
    """How one kind of figure is judged."""

    log: bool  # a change is a ratio (times, memory), else a difference (scores)
    higher_is_worse: bool  # which direction is a regression
    min_effect: float  # the smallest change reported: ratio - 1 on the log scale, else the difference
    floor: float = 0.0  # the smallest noise sd assumed (identical nights would give an infinite t)
    unit: str = ""


RULES = {
    "step_time_ms": Rule(log=True, higher_is_worse=True, min_effect=0.05, floor=0.005, unit="ms"),
    # this tree's step time over a pinned reference revision's, timed side by side in each night (bench/timing/reference_revision.py)
    "step_vs_reference": Rule(log=True, higher_is_worse=True, min_effect=0.05, floor=0.005, unit="x"),
    "fit_ms_per_step": Rule(log=True, higher_is_worse=True, min_effect=0.05, floor=0.005, unit="ms"),
    "peak_rss_mb": Rule(log=True, higher_is_worse=True, min_effect=0.10, floor=0.005, unit="MB"),
    "peak_gpu_memory_mb": Rule(log=True, higher_is_worse=True, min_effect=0.10, floor=0.005, unit="MB"),
    "score": Rule(log=False, higher_is_worse=False, min_effect=0.01, floor=0.0025),
}


def rule_for(figure: str) -> Rule:
    """The rule of a figure's name (a GLUE metric: "score")."""
    return RULES.get(figure, RULES["score"])


@dataclass(frozen=True)
class Change:
    """The level of a series moved at night `index` (0-based: the first night of the new level)."""

    index: int
    effect: float  # after / before (log rules), or after - before
    low: float  # the effect's interval (1 - ALPHA two-sided)
    high: float
    p: float  # two-sided
    before: int  # nights in the back window
    after: int  # nights in the fore window
    worse: bool  # in the regression direction
    log: bool
    first: int = -1  # the nights that are as likely the first of the new level (|t| within SPAN_T of this one's)
    last: int = -1

    def describe(self) -> str:
        word = "worse" if self.worse else "better"
        if self.log:
            size = f"{self.effect:.3f}x [{self.low:.3f}, {self.high:.3f}]"
        else:
            size = f"{self.effect:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"
        span = "" if self.first == self.last else f"; its first night is one of {self.last - self.first + 1}"
        return f"{word}: {size}, p = {self.p:.2g} ({self.before} nights before, {self.after} from it{span})"


def _test(back: list[float], fore: list[float], rule: Rule) -> tuple[float, float, float, int]:
    """(t, difference of means, its standard error, degrees of freedom) of fore against back."""
    n1, n2 = len(back), len(fore)
    mean1, mean2 = statistics.fmean(back), statistics.fmean(fore)
    ss = sum((x - mean1) ** 2 for x in back) + sum((x - mean2) ** 2 for x in fore)
    df = n1 + n2 - 2
    sd = max(math.sqrt(ss / df) if df else 0.0, rule.floor)
    se = sd * math.sqrt(1 / n1 + 1 / n2)
    diff = mean2 - mean1
    t = diff / se if se else (math.inf if diff else 0.0)
    return t, diff, se, df


@functools.lru_cache(maxsize=None)
def _critical(alpha: float, df: int) -> float:
    """Student's t quantile 1 - alpha/2: |t| beyond it is significant at alpha, two-sided (one scipy call per df:
    1,000 nights list in seconds)."""
    return float(_stats.t.ppf(1 - alpha / 2, df)) if df else math.inf


def detect(values: list[float], rule: Rule, back: int = BACK, fore: int = FORE, min_back: int = MIN_BACK,
           min_fore: int = MIN_FORE, alpha: float = ALPHA) -> list[Change]:
    """The change points of a series (oldest night first), each reported once, in order, as the nightly check
    found them: the series is judged as it stood when each night arrived, and a change once found stays found
    (as a Perfherder alert stays once raised). So a regression that was reverted a few nights later is still
    reported, and so is its revert, a change for the better from the level it had reached; judged only as the
    whole series stands, the nights after the revert would dilute the change's fore window until neither showed.
    A change is a night whose test is significant, of at least the minimum effect, and whose |t| is at least both
    neighbours' (Perfherder's local maximum; the next night's t uses whatever nights follow it, so a change of the
    newest nights waits until its first night is the likeliest). A night needs `min_fore` nights from it on
    before it is decided."""
    xs = [math.log(v) for v in values] if rule.log else [float(v) for v in values]
    found: list[Change] = []
    start = 0  # the back window begins after the last change
    for k in range(min_back + min_fore, len(xs) + 1):  # the series when its k-th night arrived
        seen = xs[:k]
        # a night's decision uses nights up to i + 1 + fore (its next neighbour's fore window): one decided with
        # every one of them already seen was decided the same way when the night before this one arrived
        i = max(start + min_back, k - fore - 1)
        while i <= k - min_fore:
            change = _decided(seen, start, i, rule, back, fore, min_back, min_fore, alpha)
            if change is not None:
                found.append(change)
                start = i
                i = start + min_back
                continue
            i += 1
    return _sized(xs, found, rule, back, fore, alpha)


def _sized(xs: list[float], found: list[Change], rule: Rule, back: int, fore: int, alpha: float) -> list[Change]:
    """Each change sized again with every night of its level seen since (up to the next change, at most `fore`),
    where that makes its interval narrower than when it was found and the change still significant; its first
    nights stay as found."""
    width = (lambda low, high: math.log(high / low)) if rule.log else (lambda low, high: high - low)
    sized = []
    for n, change in enumerate(found):
        start = found[n - 1].index if n else 0
        end = found[n + 1].index if n + 1 < len(found) else len(xs)
        before, after = xs[max(start, change.index - back):change.index], xs[change.index:min(end, change.index + fore)]
        t, diff, se, df = _test(before, after, rule)
        half = _critical(alpha, df) * se
        effect, low, high = ((math.exp(diff), math.exp(diff - half), math.exp(diff + half)) if rule.log
                             else (diff, diff - half, diff + half))
        if (len(after) <= change.after or width(low, high) >= width(change.low, change.high)
                or abs(t) <= _critical(alpha, df)):
            sized.append(change)  # nothing new, or the nights since blur it (a revert not yet found, say)
            continue
        sized.append(dataclasses.replace(change, effect=effect, low=low, high=high,
                                         p=float(2 * _stats.t.sf(abs(t), df)), after=len(after)))
    return sized


def _decided(xs: list[float], start: int, i: int, rule: Rule, back: int, fore: int, min_back: int, min_fore: int,
             alpha: float) -> Change | None:
    """The change that night i starts in the series `xs` (its back window from `start`), or None: significant, of
    the minimum effect, and a local maximum of |t|; with the span of nights as likely its first."""
    candidate = _candidate(xs, start, i, rule, back, fore, alpha)
    if candidate is None:
        return None
    t, change = candidate
    before = _score(xs, start, i - 1, back, fore, rule) if i - 1 >= start + min_back else 0.0
    after = _score(xs, start, i + 1, back, fore, rule) if i + 1 < len(xs) else 0.0
    if t < before or t < after:
        return None
    first, last = i, i
    while first - 1 >= start + min_back and _score(xs, start, first - 1, back, fore, rule) >= t - SPAN_T:
        first -= 1
    while last + 1 <= len(xs) - min_fore and _score(xs, start, last + 1, back, fore, rule) >= t - SPAN_T:
        last += 1
    return dataclasses.replace(change, first=first, last=last)


def _score(xs: list[float], start: int, i: int, back: int, fore: int, rule: Rule) -> float:
    """|t| of night i against its back window, significant or not."""
    return abs(_test(xs[max(start, i - back):i], xs[i:i + fore], rule)[0])


def _candidate(xs: list[float], start: int, i: int, rule: Rule, back: int, fore: int,
               alpha: float) -> tuple[float, Change] | None:
    """(|t|, the Change) when night i starts a significant change of at least the minimum effect, else None."""
    before, after = xs[max(start, i - back):i], xs[i:i + fore]
    t, diff, se, df = _test(before, after, rule)
    smallest = math.log(1 + rule.min_effect) if rule.log else rule.min_effect
    if abs(t) <= _critical(alpha, df) or abs(diff) < smallest:
        return None
    p = float(2 * _stats.t.sf(abs(t), df))
    half = _critical(alpha, df) * se  # the interval at the detection's own level
    worse = (diff > 0) == rule.higher_is_worse
    if rule.log:
        effect, low, high = math.exp(diff), math.exp(diff - half), math.exp(diff + half)
    else:
        effect, low, high = diff, diff - half, diff + half
    return abs(t), Change(i, effect, low, high, p, len(before), len(after), worse, rule.log)
