"""Performance variants: ways to make a training step faster, each one line in VARIANTS.

    python -m finetune --perf best          # or --padding bucket --jit-compile --precision mixed_bfloat16 ...

`course` is the course's behaviour and every field's default. What each field changes:

  padding      dynamic: every batch padded to its own longest pair (the course, DataCollatorWithPadding).
               multiple: the same, rounded up to a multiple of `pad_multiple` (fewer distinct shapes).
               bucket: batches of similar length (rows shuffled, sorted by length within windows of 50
               batches, cut into batches, batches shuffled), then padded per batch, rounded up to
               `pad_multiple` when given. Changes which rows share a batch, so it can change what is learned.
               fixed: every batch padded to the longest pair in the data (one shape, most padding).
               buckets: batches grouped as bucket, each padded up to the shortest of BUCKET_COUNT fixed lengths that
               holds it (data.bucket_lengths: quantiles of the training rows' lengths, rounded up to `pad_multiple`
               or 8, the last the longest pair of the data); the validation set is padded the same way in its order.
               So a training function sees at most BUCKET_COUNT + 1 shapes (the short last batch is one more) and
               prediction at most BUCKET_COUNT + 1: what bounds XLA's compiles.
  jit_compile  XLA: model.compile(jit_compile=True). XLA compiles once per distinct input shape, so with
               dynamic padding it keeps recompiling; padding that limits the shapes is what makes it pay.
  precision    float32 (the course); mixed_bfloat16 (CPUs with AVX512_BF16 or AMX, GPUs of compute
               capability 8.0 or newer); mixed_float16 (GPUs only: CPUs have no fast float16 matmul).
               Variables stay float32; the loss is computed on logits cast to float32.
  distribute   none, or mirrored: data-parallel tf.distribute.MirroredStrategy over every device of the
               run's kind (all GPUs, or all logical CPUs); or multi-worker: data-parallel over the processes of
               a world that bench.launch (or a cluster scheduler) starts (finetune/cluster.py): tf-keras's
               MultiWorkerMirroredStrategy, keras3-jax's DataParallel over jax.distributed; each worker computes
               its contiguous part of every global batch (NumpyBatches' shard).

Global batch. RunConfig.batch_size is always the global batch: the rows one optimizer step consumes, so the
learning-rate schedule and the number of steps per epoch do not depend on the number of devices. The course's
8 is a global batch on one device. Under MirroredStrategy each of R replicas computes on batch_size / R rows
(Keras splits every batch of the dataset), so batch_size must be a multiple of R.

Padding (dynamic, multiple, fixed) only adds masked positions: it changes no result beyond rounding.
Precision, XLA, bucketing and distribution change the arithmetic or the batches, so `changes_numerics`
marks the variants whose quality the benchmarks check against the course's baseline band.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from finetune.errors import FinetuneError
from finetune.hardware import Host

PADDINGS = ("dynamic", "multiple", "bucket", "fixed", "buckets")
GROUPED_PADDINGS = ("bucket", "buckets")  # the paddings that group rows of similar length into batches
BUCKET_COUNT = 4  # buckets: the fixed padded lengths (XLA compiles once per length and batch size)
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
UPDATES = ("dense", "fused", "lazy")  # Adam's update (finetune/adam.py): the course's op by op, one kernel, touched rows
DISTRIBUTES = ("none", "mirrored", "multi-worker")


@dataclass(frozen=True)
class PerfConfig:
    padding: str = "dynamic"
    pad_multiple: int | None = None  # multiple: required; bucket and fixed: round lengths up to it; dynamic: None
    jit_compile: bool = False
    precision: str = "float32"
    distribute: str = "none"
    update: str = "dense"  # the optimizer's update (finetune/adam.py); tf-keras only

    def __post_init__(self):
        for name, table in (("padding", PADDINGS), ("precision", PRECISIONS), ("distribute", DISTRIBUTES),
                            ("update", UPDATES)):
            if getattr(self, name) not in table:
                raise FinetuneError(f"unknown {name} {getattr(self, name)!r}: choose one of {', '.join(table)}")
        if self.pad_multiple is not None and (not isinstance(self.pad_multiple, int) or self.pad_multiple < 1):
            raise FinetuneError(f"--pad-multiple must be a positive whole number, got {self.pad_multiple!r}")
        if self.padding == "multiple" and self.pad_multiple is None:
            raise FinetuneError("--padding multiple needs --pad-multiple N (e.g. 8)")
        if self.padding == "dynamic" and self.pad_multiple is not None:
            raise FinetuneError("--pad-multiple rounds padded lengths up: use it with --padding multiple, bucket "
                                "or fixed (dynamic padding is the course's, without rounding)")
        if not isinstance(self.jit_compile, bool):
            raise FinetuneError(f"jit_compile must be True or False, got {self.jit_compile!r}")
        if self.jit_compile and self.distribute != "none":
            # tf-keras: "merge_call called while defining a new graph" when the XLA-compiled step meets the
            # strategy's cross-replica merge (an open tf-keras issue); refused rather than crashing mid-run.
            raise FinetuneError("--jit-compile with --distribute mirrored is broken in tf-keras (merge_call inside "
                                "an XLA function): use one of them")
        if self.jit_compile and self.update == "lazy":
            raise FinetuneError("--update lazy with --jit-compile: the rows a batch touched (tf.unique) have a shape "
                                "XLA cannot compile for; use one of them")

    @property
    def changes_numerics(self) -> bool:
        """Other arithmetic (precision, XLA's fusions, replicas' reductions) or other batches (bucketing)."""
        return (self.precision != "float32" or self.jit_compile or self.groups_by_length
                or self.distribute != "none" or self.update == "lazy")

    @property
    def groups_by_length(self) -> bool:
        """Batches of rows of similar length (bucket, buckets): other batches than the course's."""
        return self.padding in GROUPED_PADDINGS

    def data_options(self) -> dict:
        """The keyword arguments of data.tf_datasets that this variant sets."""
        return {"padding": self.padding, "pad_to_multiple_of": self.pad_multiple}

    def replace(self, **changes) -> "PerfConfig":
        return dataclasses.replace(self, **changes)


COURSE = PerfConfig()

VARIANTS = {
    "course": COURSE,
    "multiple8": PerfConfig(padding="multiple", pad_multiple=8),
    "fixed": PerfConfig(padding="fixed"),
    "bucket": PerfConfig(padding="bucket"),
    "xla": PerfConfig(jit_compile=True),
    "xla-bucket8": PerfConfig(padding="bucket", pad_multiple=8, jit_compile=True),
    "bf16": PerfConfig(precision="mixed_bfloat16"),
    "buckets": PerfConfig(padding="buckets"),
    "xla-buckets": PerfConfig(padding="buckets", jit_compile=True),
    "bf16-bucket": PerfConfig(padding="bucket", precision="mixed_bfloat16"),
    "bf16-xla-bucket8": PerfConfig(padding="bucket", pad_multiple=8, jit_compile=True, precision="mixed_bfloat16"),
    "bf16-xla-buckets": PerfConfig(padding="buckets", jit_compile=True, precision="mixed_bfloat16"),
    "fp16-xla-bucket8": PerfConfig(padding="bucket", pad_multiple=8, jit_compile=True, precision="mixed_float16"),
    "mirrored": PerfConfig(distribute="mirrored"),
    # one shape for every batch in both precisions: the GPU box's rows (bench/gpu/plan.py), one XLA compile each on JAX
    "bf16-fixed": PerfConfig(padding="fixed", precision="mixed_bfloat16"),
    # the optimizer's update (finetune/adam.py): one kernel per variable (the course's arithmetic), or the word
    # embedding's touched rows only (other arithmetic: a quality check), alone and with the CPUs' best paddings
    "fused": PerfConfig(update="fused"),
    "lazy": PerfConfig(update="lazy"),
    "bucket-lazy": PerfConfig(padding="bucket", update="lazy"),
    "bf16-bucket-lazy": PerfConfig(padding="bucket", precision="mixed_bfloat16", update="lazy"),
}



@dataclass(frozen=True)
class BestChoice:
    """The fastest variant for a kind of host, and what was measured of it there."""
    device: str  # "cpu" or "gpu"
    needs: str  # the capability, in words
    applies: object  # Host -> bool
    variant: str
    # claimed: a whole fine-tune takes at most this fraction of the course's (a row below, or a stored choice's
    # interval: finetune.tuned_choice.claim); None: no claim, `evidence` says why
    target: float | None
    evidence: str


# First matching row wins. Targets are for whole fine-tunes (fit() wall time over every epoch), the time a user
# waits for; a kind of host where the claim was not measured has no target, and the benchmark says so.
BEST_BY_HOST = (
    BestChoice("gpu", "GPUs of compute capability 8.0 or newer (bf16 tensor cores)",
               lambda host: host.min_capability() >= (8, 0), "bf16-xla-bucket8", None,
               "not measured: no GPU has run this suite yet"),
    BestChoice("gpu", "older GPUs (float16 tensor cores only)", lambda host: bool(host.gpus), "fp16-xla-bucket8", None,
               "not measured: no GPU has run this suite yet"),
    # Measured on an Intel Xeon with AMX (2 cores), minilm-l6, 3 epochs, seed 0: 324.1 against 426.3 ms/step over
    # whole epochs, 0.76x (the 0.75x once aimed for is not reached); the bound leaves room for the noise of two
    # fine-tunes run one after the other, and fails if bf16 stops paying (bucketing alone: about 0.97x).
    BestChoice("cpu", "CPUs with native bfloat16 (AVX512_BF16, AMX, Arm BF16)", lambda host: host.cpu.has_bf16,
               "bf16-bucket", 0.85, "Intel Xeon AMX, 3 epochs: 0.76x the course's time at the same quality"),
    BestChoice("cpu", "other CPUs (float32 only, e.g. AVX2)", lambda host: True, "bucket", None,
               "AMD EPYC, AVX2 only: 1.20x by the median step but 1.03x by the epoch, so no speed claim"),
)


def best_choice(device_kind: str, host: Host | None = None) -> BestChoice:
    """The BEST_BY_HOST row for running on `device_kind` of `host` (default: this machine)."""
    host = host or Host.here()
    for row in BEST_BY_HOST:
        if row.device == device_kind and row.applies(host):
            return row
    raise FinetuneError(f"no best variant for device {device_kind!r} on {host.describe(device_kind)}")


def variant_name(name: str, device_kind: str = "cpu", host: Host | None = None) -> str:
    """`name`, or the variant that `best` stands for on this host and device."""
    resolved = best_choice(device_kind, host).variant if name == "best" else name
    if resolved not in VARIANTS:
        raise FinetuneError(f"unknown --perf {name!r}: choose one of {', '.join([*VARIANTS, 'best'])}")
    return resolved


def variant(name: str, device_kind: str = "cpu", host: Host | None = None) -> PerfConfig:
    """VARIANTS[name], or for `best` the fastest variant this host supports (BEST_BY_HOST)."""
    return VARIANTS[variant_name(name, device_kind, host)]


def check_global_batch(batch_size: int, strategy) -> None:
    """The global batch must split evenly over the replicas (see "Global batch" above)."""
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise FinetuneError(f"--batch-size {batch_size} is the global batch and must split evenly over "
                            f"{replicas} replicas: use a multiple of {replicas}")


def unsupported_precision(precision: str, device_kind: str, host: Host | None = None) -> str | None:
    """Why `precision` cannot run natively on `device_kind` ("cpu" or "gpu") of `host` (default: this one)."""
    return (host or Host.here()).unsupported_precision(precision, device_kind)


def float32_logits(loss):
    """`loss` computed on float32 logits: a 16-bit softmax cross-entropy loses the small differences
    the gradient is made of (the Keras mixed-precision guide's advice: outputs in float32)."""
    import tensorflow as tf
    import tf_keras as keras

    inner = keras.losses.get(loss)
    per_example = inner.call if isinstance(inner, keras.losses.Loss) else inner

    def loss_on_float32_logits(y_true, y_pred):
        return per_example(y_true, tf.cast(y_pred, tf.float32))

    return loss_on_float32_logits
