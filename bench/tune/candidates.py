"""bench.tune's candidates and its decision, apart from the processes that time them: what a candidate names, how
each is judged against the baseline candidate, which ones cannot be told apart, and which one is chosen.

    VARIANT[@ENGINE][:intra=N][:inter=M]       e.g. xla-buckets, buckets@keras3-jax, course:intra=1:inter=1

VARIANT is a finetune.perf variant; ENGINE an engine label (tf-keras, keras3-jax, ...; default: the run's engine);
intra and inter set TensorFlow's thread pools (TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS) for the candidate's
process. Candidates of one engine and threading share a process (their passes interleave in it); others get one
each. Pure Python and scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

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
