"""Step time as independent blocks, and the tests that decide whether a new set of blocks is slower.

A block is one whole pass over the prepared batches, as ms per step. Blocks are grouped by the process that
timed them: on a shared 2-core host the process-to-process spread (thread placement, memory layout, the
neighbours' load while it ran) is of the same size as the pass-to-pass spread, so a gate that pooled every pass
as if independent would cry wolf. Times are compared on the log scale (noise is multiplicative).

- `stored_gate`: a new session (its processes' passes) against the stored sessions of the same design: a session's
  mean log ms/step is one observation, and the new one is tested against the stored ones' spread (a one-sided
  t prediction test on the log ratio). It fails only when the slowdown is significant (p < alpha) AND at least
  `min_effect`.
- `ab_test`: blocks of two environments timed in alternating processes (ABBA, bench.ab): Welch's t-test on the
  per-process mean log ms/step, with a confidence interval on the ratio, and the Mann-Whitney U test beside it.

Both return a `Verdict`. Pure Python and scipy: no TensorFlow.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

from scipy import stats as _stats

# One-sided (only a slower step time is a regression), for both gates. A few processes or sessions give few degrees
# of freedom: at 0.01, 4 processes a side (t > 3.1) missed a planted 10% slowdown in one of the first two A/B
# repeats measured here. A flag also needs the minimum effect, so under no change it takes p < 0.05 AND a ratio of
# at least 1.05: rarer than 1 in 20.
ALPHA = 0.05
STORED_ALPHA = ALPHA
MIN_EFFECT = 0.05  # a slowdown below 5% is not reported, however significant
# Sessions measured on fewer than MIN_DAYS days do not show how a shared host's speed drifts from hour to hour and
# day to day, so their spread is floored at DAY_DRIFT (log sd). Measured on the AMX Xeon: the CI tier's mean step
# on four days, 392.8, 405.3, 425.3 and 440.4 ms (log sd 0.048); within one afternoon 460 (one process), 440.4
# (five 3-process sessions that agreed to 0.015) and 379.6 ms an hour later.
DAY_DRIFT = 0.07
MIN_DAYS = 3


@dataclass(frozen=True)
class Noise:
    """The spread of log ms/step: within a process (pass to pass) and between processes."""

    within: float  # standard deviation of one pass's log ms/step around its process's mean
    between: float  # standard deviation of the process means, beyond what the within-spread explains
    processes: int
    passes: float  # mean passes per process

    @classmethod
    def of(cls, processes: list[list[float]]) -> "Noise":
        logs = [[math.log(v) for v in p] for p in processes if p]
        sizes = [len(p) for p in logs]
        within_df = sum(n - 1 for n in sizes)
        within = math.sqrt(sum((x - statistics.fmean(p)) ** 2 for p in logs for x in p) / within_df) if within_df else 0.0
        means = [statistics.fmean(p) for p in logs]
        n_bar = statistics.fmean(sizes)
        between = math.sqrt(max(statistics.variance(means) - within ** 2 / n_bar, 0.0)) if len(means) > 1 else 0.0
        return cls(within, between, len(logs), n_bar)


@dataclass(frozen=True)
class Verdict:
    ratio: float  # new / stored (or B / A) mean ms per step, from the mean log times
    low: float  # the ratio's two-sided confidence interval (1 - 2 alpha)
    high: float
    p: float  # one-sided: the chance of a ratio this high with no slowdown
    test: str  # how p was computed
    slower: bool  # significant and at least min_effect: the gate fails
    faster: bool  # significant and at least min_effect the other way
    note: str = ""  # e.g. why the noise model is weak

    def describe(self) -> str:
        word = "SLOWER" if self.slower else "faster" if self.faster else "no significant change"
        # p is one-sided for slower; a faster verdict names its own side's (1 - p), not a p near 1 beside "faster"
        p = f"p(faster) = {1 - self.p:.2g}" if self.faster else f"p = {self.p:.2g}"
        return (f"{word}: ratio {self.ratio:.3f} [{self.low:.3f}, {self.high:.3f}], {p} ({self.test})"
                + (f"; {self.note}" if self.note else ""))

    def to_dict(self) -> dict:
        return asdict(self)


def _decide(diff: float, se: float, df: float, alpha: float, min_effect: float, test: str, note: str = "") -> Verdict:
    t = diff / se if se > 0 else math.copysign(math.inf, diff) if diff else 0.0
    p = float(_stats.t.sf(t, df))
    half = float(_stats.t.ppf(1 - alpha, df)) * se
    ratio = math.exp(diff)
    slower = p < alpha and ratio >= 1 + min_effect
    faster = float(_stats.t.cdf(t, df)) < alpha and ratio <= 1 / (1 + min_effect)
    return Verdict(ratio, math.exp(diff - half), math.exp(diff + half), p, test, slower, faster, note)


def process_means(processes: list[list[float]]) -> list[float]:
    """Each process's geometric mean ms/step over its passes (the log scale the tests work on)."""
    return [math.exp(statistics.fmean(math.log(v) for v in p)) for p in processes if p]


def session_value(processes: list[list[float]]) -> float:
    """A session's step time on the log scale: the mean over its processes of each one's mean log ms/step."""
    return statistics.fmean(statistics.fmean(math.log(v) for v in p) for p in processes if p)


def session_spread(sessions: list[list[list[float]]]) -> dict:
    """The noise model of stored sessions (log sd): pass to pass within a process, process to process beyond that,
    and session to session beyond both (the day's load, what a session's processes share)."""
    noise = Noise.of([p for s in sessions for p in s])  # within: pass to pass, pooled over every process
    logs = [[statistics.fmean(math.log(v) for v in p) for p in s if p] for s in sessions]
    df = sum(len(means) - 1 for means in logs)
    spread = sum((m - statistics.fmean(means)) ** 2 for means in logs for m in means) / df if df else 0.0
    between = math.sqrt(max(spread - noise.within ** 2 / noise.passes, 0.0))  # processes of one session
    values = [session_value(s) for s in sessions]
    per_session = statistics.fmean(len(s) for s in sessions)
    expected = between ** 2 / per_session + noise.within ** 2 / (per_session * noise.passes)
    beyond = math.sqrt(max(statistics.variance(values) - expected, 0.0)) if len(values) > 1 else 0.0
    return {"within": noise.within, "between_processes": between, "between_sessions": beyond,
            "sessions": len(values), "processes_per_session": per_session, "passes_per_process": noise.passes,
            "session_sd": statistics.stdev(values) if len(values) > 1 else 0.0}


def stored_gate(new: list[list[float]], stored: list[list[list[float]]], alpha: float = STORED_ALPHA,
                min_effect: float = MIN_EFFECT, days: int = 1) -> Verdict:
    """A new session's blocks (ms/step, a list per process) against the stored sessions' (of the same design: as
    many processes and passes, which the baseline key fixes).

    A session is one observation: its step time on the log scale (session_value) carries every level of noise
    at once (passes, processes, the session's day), so the stored sessions' spread s is the noise model, whatever
    its levels are. Under no change the new session is one more draw: (new - mean) / (s sqrt(1 + 1/K)) is
    Student's t with K - 1 degrees of freedom (a prediction interval; K stored sessions). `days`: on how many
    days the stored sessions were measured; under MIN_DAYS, s is at least DAY_DRIFT (the day's drift is in none of
    them, and a gate that ignored it would fail an unchanged run on a slower day)."""
    values = [session_value(s) for s in stored]
    k = len(values)
    diff = session_value(new) - statistics.fmean(values)
    spread = session_spread(stored)
    if k >= 2:
        sd, note = spread["session_sd"], ""
        if days < MIN_DAYS and sd < DAY_DRIFT:
            sd, note = DAY_DRIFT, (f"sessions of {days} day(s): their spread {spread['session_sd']:.3f} floored at the "
                                   f"day-to-day drift {DAY_DRIFT} (bench.judge.blocks.DAY_DRIFT)")
        se, df = sd * math.sqrt(1 + 1 / k), k - 1
    else:  # one stored session: its passes' spread alone, which misses the processes' and the day's
        noise = Noise.of(stored[0])
        se, df = noise.within / math.sqrt(noise.passes * noise.processes), max(noise.passes - 1, 1)
        note = "one stored session: the spread between sessions is unknown, so the test is too eager"
    test = (f"t-test on the session's mean log ms/step ({len(new)} process(es) x "
            f"{statistics.fmean(len(p) for p in new):.0f} blocks) against {k} stored sessions; session sd "
            f"{spread['session_sd']:.3f} (within {spread['within']:.3f}, between processes "
            f"{spread['between_processes']:.3f}, between sessions {spread['between_sessions']:.3f}; log sd)")
    return _decide(diff, se, df, alpha, min_effect, test, note)


def ab_test(a: list[float], b: list[float], alpha: float = ALPHA, min_effect: float = MIN_EFFECT) -> Verdict:
    """B against A, each a list of per-process mean ms/step (independent blocks). Welch's t-test on the logs;
    the Mann-Whitney U p-value (one-sided, B greater) is added to the description."""
    if min(len(a), len(b)) < 2:
        raise ValueError(f"the A/B test needs at least two processes a side, not {len(a)} and {len(b)}")
    la, lb = [math.log(v) for v in a], [math.log(v) for v in b]
    va, vb = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(la) - 1) + vb ** 2 / (len(lb) - 1)) if se > 0 else len(la) + len(lb) - 2
    u = _stats.mannwhitneyu(lb, la, alternative="greater")
    test = (f"Welch t-test on log ms/step of {len(a)} A and {len(b)} B processes; Mann-Whitney U = {u.statistic:g}, "
            f"p = {u.pvalue:.2g}")
    return _decide(statistics.fmean(lb) - statistics.fmean(la), se, df, alpha, min_effect, test)


def paired_test(a: list[float], b: list[float], alpha: float = ALPHA, min_effect: float = MIN_EFFECT) -> Verdict:
    """B against A timed side by side in the same replicates (bench.tune: replicate r's processes time both, passes
    interleaved): a[r] and b[r] are replicate r's mean ms/step. The t-test is on the per-replicate log ratios, so
    what a replicate shares (its processes' placement, the hour's load) cancels; needs two replicates or more."""
    diffs = [math.log(y) - math.log(x) for x, y in zip(a, b)]
    if len(diffs) < 2:
        raise ValueError("a paired test needs at least two replicates")
    se = statistics.stdev(diffs) / math.sqrt(len(diffs))
    test = f"paired t-test on log ms/step over {len(diffs)} replicates"
    return _decide(statistics.fmean(diffs), se, len(diffs) - 1, alpha, min_effect, test)


def paired_ratio(logs: list[float], alpha: float = 0.05) -> tuple[float, float, float]:
    """(ratio, low, high): the ratio from pairs' log ratios (log(ours / theirs), one per adjacent pair of passes),
    with its two-sided 1 - alpha interval (Student's t over the pairs; unbounded for a single pair)."""
    mean = statistics.fmean(logs)
    half = (float(_stats.t.ppf(1 - alpha / 2, len(logs) - 1)) * statistics.stdev(logs) / math.sqrt(len(logs))
            if len(logs) > 1 else math.inf)
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)
