"""The result contract: what each benchmark writes into pytest-benchmark's `extra_info`, one frozen dataclass per
kind, versioned.

    record = Quality(...); benchmark.extra_info.update(record.to_extra_info())   # writers (bench/test_*.py)
    record = read(extra_info)                                                     # readers (report, ingest)

Every record carries `schema` (SCHEMA) and `kind` (a KINDS key). Readers dispatch on `kind`; files from before the
contract (no `schema`) are migrated on read by `migrate`, in one place, as asv migrates its old result files.
docs/contract.md's table of kinds is generated from these classes (`markdown()`), and a test checks it.
This module imports neither TensorFlow nor transformers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from finetune.errors import FinetuneError

SCHEMA = 2  # 1: files from before the contract (kind told by which keys a record happens to have)
REQUIRED = dataclasses.field  # a field the base class leaves optional, required by this kind (no default)


@dataclass(frozen=True, kw_only=True)
class Record:
    """Fields every benchmark records."""

    KIND: ClassVar[str] = ""
    TEST: ClassVar[str] = ""
    model: str | None = None  # required by every kind but the oldest faster-than-the-course records
    batch_size: int | None = None
    device: str | None = None  # cpu or gpu (files from before it: not recorded for quality runs)
    task: str = "mrpc"
    seed: int | None = None
    epochs: int | None = None
    tier: str | None = None
    engine: str = "tf-keras"  # tf-keras (the course's; files before engines), or keras3-<backend>
    peak_rss_mb: float | None = None  # the process's peak resident set during the benchmark (bench/conftest.py)
    rss_scope: str | None = None  # window, or process where the kernel cannot reset the peak
    peak_gpu_memory_mb: float | None = None  # the engine's array library's peak GPU memory, on GPU hosts
    gpu_memory_scope: str | None = None  # process where that peak cannot be reset (JAX); else the benchmark's
    # where those peaks were measured: "timing processes" (the gated step time: the largest of the processes that ran
    # only the timed step, bench.timing.processes); None: the pytest process, during the benchmark
    memory_of: str | None = None
    gate: dict | None = None  # each compared figure: passed, failed or "skipped: <why>"
    # --plant-slowdown's factor (a test hook: every timed step slept this fraction of itself more), 0.0 for a real
    # measurement, so that a planted run never passes for one: bench.ingest refuses it, and a planted session is
    # never kept as a baseline or a night (bench.session.tiers.PLANTED_REFUSED). Files from before it: 0.0.
    planted_slowdown: float = 0.0

    def to_extra_info(self) -> dict:
        return {"schema": SCHEMA, "kind": self.KIND, **dataclasses.asdict(self)}

    @classmethod
    def from_extra_info(cls, info: dict, where: str = "a benchmark") -> "Record":
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(f.name for f in dataclasses.fields(cls) if f.name not in info
                         and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        if missing:
            raise FinetuneError(f"{where}: a {cls.KIND} record without {', '.join(missing)} in extra_info: "
                                "not written by this suite's bench/")
        return cls(**{name: value for name, value in info.items() if name in names})


@dataclass(frozen=True, kw_only=True)
class FitSpeed(Record):
    """A whole fine-tune's speed: the headline over every epoch of fit(), diagnostics beside it."""

    step_time_ms: float | None = None  # fit() wall time over every epoch / steps: what a user waits for
    examples_per_s: float | None = None
    compile_s: float | None = None  # the first step's excess over the steady state
    epoch_s: list | None = None
    steps_timed: int | None = None
    median_step_ms: float | None = None  # steady-state median step: a diagnostic
    step_time_iqr_ms: float | None = None
    # how the fine-tune found XLA's persistent cache (finetune.compile_cache): off, unused, cold, warm or partly
    # warm, with what it held and stored; None: files from before it (no cache)
    compile_cache: str | None = None


@dataclass(frozen=True, kw_only=True)
class Scores(FitSpeed):
    """A fine-tune's quality on the validation split, and its speed."""

    model: str = REQUIRED()
    batch_size: int = REQUIRED()
    epochs: int = REQUIRED()
    accuracy: float | None  # null for a regression task (STS-B)
    f1: float | None  # null where the task's GLUE metric has no F1 (every task but MRPC and QQP)
    scores: dict | None = None  # the task's GLUE metrics (finetune.tasks); files before it: MRPC's accuracy, F1
    loss: str = "from_logits"  # files before these fields: variants train with the course's fix
    optimizer: str = "linear-decay"
    collapsed: str | None = None  # null, all-positive or all-negative
    majority_accuracy: float | None = None  # what always predicting the most common validation label scores
    max_train_samples: int | None = None
    num_eval_examples: int | None = None


@dataclass(frozen=True, kw_only=True)
class Quality(Scores):
    KIND: ClassVar[str] = "quality"
    TEST: ClassVar[str] = "test_quality"
    loss: str = REQUIRED()
    optimizer: str = REQUIRED()
    epoch_losses: list | None = None
    num_train_steps: int | None = None
    metric_source: str | None = None
    data_source: str | None = None
    wall_time_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class VariantQuality(Scores):
    """A performance variant's fine-tune: judged against the band of the recipe it trains with."""

    KIND: ClassVar[str] = "variant_quality"
    TEST: ClassVar[str] = "test_variant_quality"
    variant: str


@dataclass(frozen=True, kw_only=True)
class PerfFields:
    """What a performance variant changes (finetune.perf.PerfConfig, flattened)."""

    perf_padding: str | None = None
    perf_pad_multiple: int | None = None
    perf_jit_compile: bool | None = None
    perf_precision: str | None = None
    perf_distribute: str | None = None
    perf_update: str | None = None  # dense (the course's Adam), fused or lazy (finetune/adam.py); files before it: dense


@dataclass(frozen=True, kw_only=True)
class StepTime(Record):
    """The course's pipeline over prepared batches: the gated step time."""

    KIND: ClassVar[str] = "step_time"
    TEST: ClassVar[str] = "test_step_time"
    model: str = REQUIRED()
    batch_size: int = REQUIRED()
    device: str = REQUIRED()
    step_time_ms: float  # mean over whole passes / batches
    examples_per_s: float
    tokens_per_s: float  # real (unpadded) tokens
    device_name: str = ""
    steps_timed: int | None = None
    padded_tokens_per_s: float | None = None
    padding_waste: float | None = None
    flops_per_step: float | None = None
    flop_per_s: float | None = None
    precision: str | None = None  # the matmuls' precision: fp32, tf32, bf16, fp16
    speedup_vs_cpu: float | None = None  # when both devices ran
    pass_times_s: list | None = None  # every timed pass, in the order timed (pytest-benchmark's rounds)
    median_step_ms_of_passes: float | None = None
    blocks_ms: list | None = None  # per process, each timed pass as ms per step: what the gate and baseline use
    processes: int | None = None  # the processes the passes were timed in (bench.timing.processes)
    confirm_step_time_ms: float | None = None  # timed again, when the first figure was above the bound
    gate_test: dict | None = None  # the block gate's statistics (bench.judge.blocks.Verdict): ratio, interval, p
    reference: dict | None = None  # --reference: the pinned revision's passes beside these, and the ratio to them


@dataclass(frozen=True, kw_only=True)
class VariantStepTime(StepTime, PerfFields):
    """A performance variant over the same first training rows as every other variant."""

    KIND: ClassVar[str] = "variant_step_time"
    TEST: ClassVar[str] = "test_variant_step_time"
    variant: str
    replicas: int = 1
    rows: int | None = None
    distinct_shapes: int | None = None
    traces: int | None = None
    xla_compiles: int | None = None
    profile: dict | None = None  # --profile: one pass's ms per step by category (finetune.profile.summarize)


@dataclass(frozen=True, kw_only=True)
class Scaling(VariantStepTime):
    """MirroredStrategy against one device over the same rows (weak scaling: the per-replica batch held)."""

    KIND: ClassVar[str] = "scaling"
    TEST: ClassVar[str] = "test_mirrored_scaling"
    tokens_per_s: float | None = None  # files before the contract left it out of this kind
    single_device_step_time_ms: float
    per_replica_batch: int
    scaling_efficiency: float


@dataclass(frozen=True, kw_only=True)
class Faster(Record, PerfFields):
    """The best variant for this host against the course: two whole fine-tunes of the same rows and epochs."""

    KIND: ClassVar[str] = "faster_than_course"
    TEST: ClassVar[str] = "test_faster_than_the_course"
    device: str = REQUIRED()
    variant: str
    step_time_ms: float
    course_step_time_ms: float
    speedup: float | None = None
    target: float | None = None  # the table's claim for this kind of host, or null: no claim
    best_choice: str | None = None
    device_name: str | None = None
    compile_s: float | None = None
    course_compile_s: float | None = None
    examples_per_s: float | None = None
    course_examples_per_s: float | None = None
    median_step_ms: float | None = None
    course_median_step_ms: float | None = None
    accuracy: float | None = None  # the best variant's
    f1: float | None = None
    course_accuracy: float | None = None
    course_f1: float | None = None
    comparison: str | None = None  # how the two were timed
    compile_cache: str | None = None  # the best variant's (FitSpeed.compile_cache): its compiles cold or warm


@dataclass(frozen=True, kw_only=True)
class WorldFields:
    """The world a multi-worker benchmark ran in (finetune/cluster.py, under bench.launch or a scheduler)."""

    workers: int = REQUIRED()
    replicas_per_worker: int = 1
    collective: str | None = None  # the all-reduce's implementation: RING or NCCL (tf-keras), gloo (keras3-jax)
    hosts: int | None = None  # distinct hosts among the workers' addresses
    speed_claim: str | None = None  # why no speed is claimed (workers sharing one host's cores), or null


@dataclass(frozen=True, kw_only=True)
class MultiWorkerStepTime(VariantStepTime, WorldFields):
    """The course's step on several workers at the recipe's global batch (each steps on its part), timed on the
    chief; beside it, the same global batch in the chief's one process and the all-reduce of one step's gradients."""

    KIND: ClassVar[str] = "multi_worker_step_time"
    TEST: ClassVar[str] = "test_multi_worker_step_time"
    worker_batch_size: int  # this worker's rows of each global batch
    single_process_step_time_ms: float | None = None  # the same global batch and rows, one process, no collectives
    scaling_efficiency: float | None = None  # single / (workers x multi-worker): 1 is perfect, 1/workers is none
    allreduce_ms: float | None = None  # one all-reduce of every gradient (the model's trainable weights), alone
    allreduce_share: float | None = None  # allreduce_ms / step_time_ms
    allreduce_how: str | None = None  # how it was measured, or why it was not


@dataclass(frozen=True, kw_only=True)
class MultiWorkerQuality(VariantQuality, WorldFields):
    """The course's fix fine-tuned by several workers: judged against the one-process fix's band."""

    KIND: ClassVar[str] = "multi_worker_quality"
    TEST: ClassVar[str] = "test_multi_worker_quality"


KINDS = {cls.KIND: cls for cls in (Quality, VariantQuality, StepTime, VariantStepTime, Scaling, Faster,
                                   MultiWorkerStepTime, MultiWorkerQuality)}


def migrate(info: dict) -> dict:
    """A record of any schema as the current one. Schema 1 (no `schema` key): the kind is told by the keys only it
    had, and a variant's or the best variant's scores were `variant_accuracy` / `variant_f1`."""
    if info.get("schema") == SCHEMA:
        return info
    if "schema" in info:
        raise FinetuneError(f"extra_info schema {info['schema']!r} is newer than this suite's ({SCHEMA}): "
                            "read it with the revision that wrote it")
    out = {key: value for key, value in info.items() if key not in ("variant_accuracy", "variant_f1")}
    if "variant_accuracy" in info:
        out["accuracy"], out["f1"] = info["variant_accuracy"], info.get("variant_f1")
    if "course_step_time_ms" in info:
        kind = Faster.KIND
    elif "scaling_efficiency" in info:
        kind = Scaling.KIND
    elif "variant_accuracy" in info:
        kind = VariantQuality.KIND
    elif "accuracy" in info:
        kind = Quality.KIND
    elif "tokens_per_s" in info:
        kind = VariantStepTime.KIND if info.get("variant") else StepTime.KIND
    else:
        kind = None  # not one of this suite's benchmarks
    return {**out, "schema": SCHEMA, "kind": kind}


def read(info: dict, where: str = "a benchmark") -> Record | None:
    """The typed record of one benchmark's extra_info (migrated), or None for a benchmark of no known kind."""
    current = migrate(info)
    cls = KINDS.get(current["kind"])
    if cls is None:
        if current["kind"] is None:
            return None
        raise FinetuneError(f"{where}: unknown kind {current['kind']!r} in extra_info: one of {', '.join(KINDS)}")
    return cls.from_extra_info(current, where)


def validate(info: dict) -> Record:
    """A record as a benchmark wrote it, checked: current schema, a known kind, every key a field of that kind (a
    key that is not would be lost to readers). Raises FinetuneError naming the problem."""
    if info.get("schema") != SCHEMA or info.get("kind") not in KINDS:
        raise FinetuneError(f"extra_info without schema {SCHEMA} and a known kind: {info.get('schema')!r}, "
                            f"{info.get('kind')!r}")
    cls = KINDS[info["kind"]]
    unknown = sorted(set(info) - {f.name for f in dataclasses.fields(cls)} - {"schema", "kind"})
    if unknown:
        raise FinetuneError(f"{cls.KIND} extra_info has keys that are no field of bench.store.contract.{cls.__name__}: "
                            f"{', '.join(unknown)}: add them to the class")
    return read(info)


def markdown() -> str:
    """docs/contract.md's table of kinds and their fields (required ones in bold), generated from the classes."""
    common = {f.name for f in dataclasses.fields(Record)}
    lines = ["| kind | written by | fields (required in **bold**) |", "|---|---|---|",
             f"| every kind | | `schema` ({SCHEMA}), `kind`, " + _fields(Record, set()) + " |"]
    for kind, cls in KINDS.items():
        lines.append(f"| `{kind}` | `{cls.TEST}` | {_fields(cls, common)} |")
    return "\n".join(lines)


def _fields(cls, common: set) -> str:
    """The class's fields, leaving out the common ones that it does not require."""
    shown = []
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name in common and not required:
            continue
        shown.append(f"**`{f.name}`**" if required else f"`{f.name}`")
    return ", ".join(shown)
