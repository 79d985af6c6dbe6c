"""bench.tune's candidates and its decision, apart from the processes that time them: what a candidate names, how
each is judged against the baseline candidate, which ones cannot be told apart, and which one is chosen.

    VARIANT[@ENGINE][:intra=N][:inter=M]       e.g. xla-buckets, buckets@keras3-jax, course:intra=1:inter=1

VARIANT is a finetune.perf variant; ENGINE an engine label (tf-keras, keras3-jax, ...; default: the run's engine);
intra and inter set TensorFlow's thread pools (TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS) for the candidate's
process. Candidates of one engine and threading share a process (their passes interleave in it); others get one
each. Pure Python and scipy.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.judge import blocks
from finetune import engines, perf
from finetune.errors import FinetuneError

THREAD_VARIABLES = {"intra": "TF_NUM_INTRAOP_THREADS", "inter": "TF_NUM_INTEROP_THREADS"}
# What is tried where no --candidates are given: one row per idea (padding, bucketing, XLA with bounded shapes,
# bf16 where native, a single inter-op thread); a row the host cannot run is named and skipped. Not xla-bucket8:
# its lengths rounded to 8 give MRPC about 12 shapes, each an XLA compile (1.34x the course's epoch on the AVX2
# EPYC), which xla-buckets bounds at 5.
DEFAULT = ("course", "multiple8", "bucket", "buckets", "xla-buckets", "bf16-bucket",
           "bf16-xla-buckets", "buckets:inter=1")


@dataclass(frozen=True)
class Candidate:
    text: str  # as given
    variant: str  # a finetune.perf.VARIANTS name
    engine: str  # an engine label: tf-keras, keras3-jax
    threads: tuple = ()  # (("intra", 1), ("inter", 1)): TensorFlow's thread pools for this candidate's process
    native: bool = True  # on the run's own engine (--engine); another engine's arithmetic is another one

    @property
    def process(self) -> tuple:
        """What a timing process is set up with: candidates that agree on it share one."""
        return self.engine, self.threads

    @property
    def changes_numerics(self) -> bool:
        """Other arithmetic or batches than the course's: the variant's, or another engine's kernels."""
        return perf.VARIANTS[self.variant].changes_numerics or not self.native

    def env(self) -> dict:
        return {THREAD_VARIABLES[name]: str(value) for name, value in self.threads}


def engine_of(label: str) -> tuple[str, str | None]:
    """(engine, backend) of an engine label: keras3-jax -> (keras3, jax); one line where it names none."""
    for name in engines.names():
        if label == name or label.startswith(name + "-"):
            backend = label[len(name) + 1:] or None
            engines.validate(name, backend)
            return name, backend
    raise FinetuneError(f"unknown engine {label!r}: choose one of {', '.join(engines.names())} (keras3-<backend>)")


def parse(text: str, engine: str) -> Candidate:
    """A candidate from its text; FinetuneError (one line) for a name that is none."""
    head, *settings = text.strip().split(":")
    name, _, label = head.partition("@")
    if name not in perf.VARIANTS:
        raise FinetuneError(f"unknown variant {name!r}: choose one of {', '.join(perf.VARIANTS)}")
    label = label or engine
    engine_of(label)
    threads = []
    for setting in settings:
        key, _, value = setting.partition("=")
        if key not in THREAD_VARIABLES or not value.isdigit() or int(value) < 1:
            raise FinetuneError(f"setting {setting!r}: use intra=N or inter=N (N >= 1 threads)")
        threads.append((key, int(value)))
    if perf.VARIANTS[name].distribute != "none":
        raise FinetuneError(f"{name} distributes the step: bench.tune compares one process's step")
    return Candidate(text.strip(), name, label, tuple(sorted(threads)), label == engine)


def judged(times: dict, baseline: str, alpha: float = blocks.ALPHA, min_effect: float = blocks.MIN_EFFECT) -> dict:
    """{candidate: its row}: per-replicate mean ms/step (`times[c]`, one value per replicate) against the
    baseline's, a paired test each (blocks.paired_test), and `indistinguishable`: the candidates whose ratio's
    interval overlaps the fastest one's."""
    rows = {}
    for name, values in times.items():
        row = {"ms_per_step": statistics.fmean(values), "replicates_ms": list(values)}
        if name != baseline:
            verdict = blocks.paired_test(times[baseline], values, alpha, min_effect)
            row.update(ratio=verdict.ratio, low=verdict.low, high=verdict.high, p=verdict.p, faster=verdict.faster,
                       slower=verdict.slower, described=verdict.describe())
        else:
            row.update(ratio=1.0, low=1.0, high=1.0, p=None, faster=False, slower=False, described="the baseline")
        rows[name] = row
    fastest = min(rows, key=lambda n: rows[n]["ratio"])
    for name, row in rows.items():
        row["indistinguishable"] = name != fastest and row["low"] <= rows[fastest]["high"]
    return rows


def ranked(rows: dict) -> list[str]:
    return sorted(rows, key=lambda n: rows[n]["ratio"])


def shortlist(rows: dict, candidates: dict, baseline: str) -> list[str]:
    """The candidates worth choosing, best first: significantly faster than the baseline (p < alpha and at least
    min_effect), by ratio; among those that cannot be told apart from the fastest, the ones that change no
    arithmetic come first (no quality is at stake). The baseline closes the list: where nothing pays, it stays."""
    faster = [name for name in ranked(rows) if rows[name]["faster"]]
    if faster:
        lead = [n for n in faster if n == faster[0] or rows[n]["indistinguishable"]]
        same = [n for n in lead if not candidates[n].changes_numerics]
        faster = same + [n for n in faster if n not in same]
    return faster + [baseline]


def projected(rows: dict, first_pass_s: dict, batches: int, steps: int, baseline: str) -> None:
    """Each row's whole fine-tune of `steps` steps, projected per replicate from what it measured (in place, as
    row["whole"]): steps x its ms/step plus its compiles, the first pass's time over a steady pass's (tracing, and
    XLA's compile of every shape in the sample; measured on the AMX Xeon, fit() pays them too: xla-buckets' median
    step 0.70x the course's, its one epoch 1.05x). The ratio and interval are a paired test of those seconds
    against the baseline's, as the step's are. A row without first passes (an older worker) gets none."""
    def compiles(name: str) -> list[float] | None:
        firsts = first_pass_s.get(name)
        if not firsts or len(firsts) != len(rows[name]["replicates_ms"]):
            return None
        return [max(first - batches * ms / 1000.0, 0.0) for ms, first in zip(rows[name]["replicates_ms"], firsts)]

    def seconds(name: str, paid: list[float]) -> list[float]:
        return [steps * ms / 1000.0 + c for ms, c in zip(rows[name]["replicates_ms"], paid)]

    base_paid = compiles(baseline)
    for name, row in rows.items():
        paid = compiles(name)
        if base_paid is None or paid is None:
            continue
        mine = seconds(name, paid)
        whole = {"steps": steps, "seconds": statistics.fmean(mine), "compile_s": statistics.fmean(paid)}
        if name == baseline:
            whole.update(ratio=1.0, low=1.0, high=1.0)
        else:
            verdict = blocks.paired_test(seconds(baseline, base_paid), mine)
            whole.update(ratio=verdict.ratio, low=verdict.low, high=verdict.high)
        row["whole"] = whole
