"""Performance variants: ways to make a training step faster, each one line in VARIANTS.

    python -m finetune --perf best          # or --padding bucket --jit-compile --precision mixed_bfloat16 ...

`course` is the course's behaviour and every field's default. What each field changes:

  padding      dynamic: every batch padded to its own longest pair (the course, DataCollatorWithPadding).
               multiple: the same, rounded up to a multiple of `pad_multiple` (fewer distinct shapes).
               bucket: batches of similar length (rows shuffled, sorted by length within windows of 50
               batches, cut into batches, batches shuffled), then padded per batch, rounded up to
               `pad_multiple` when given. Changes which rows share a batch, so it can change what is learned.
               fixed: every batch padded to the longest pair in the data (one shape, most padding).
  jit_compile  XLA: model.compile(jit_compile=True). XLA compiles once per distinct input shape, so with
               dynamic padding it keeps recompiling; padding that limits the shapes is what makes it pay.
  precision    float32 (the course); mixed_bfloat16 (CPUs with AVX512_BF16 or AMX, GPUs of compute
               capability 8.0 or newer); mixed_float16 (GPUs only: CPUs have no fast float16 matmul).
               Variables stay float32; the loss is computed on logits cast to float32.
  distribute   none, or mirrored: data-parallel tf.distribute.MirroredStrategy over every device of the
               run's kind (all GPUs, or all logical CPUs).

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

PADDINGS = ("dynamic", "multiple", "bucket", "fixed")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
DISTRIBUTES = ("none", "mirrored")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs with bfloat16 matmul instructions
BF16_GPU_COMPUTE_CAPABILITY = (8, 0)  # Ampere


@dataclass(frozen=True)
class PerfConfig:
    padding: str = "dynamic"
    pad_multiple: int | None = None  # multiple: required; bucket and fixed: round lengths up to it; dynamic: None
    jit_compile: bool = False
    precision: str = "float32"
    distribute: str = "none"

    def __post_init__(self):
        for name, table in (("padding", PADDINGS), ("precision", PRECISIONS), ("distribute", DISTRIBUTES)):
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

    @property
    def changes_numerics(self) -> bool:
        """Other arithmetic (precision, XLA's fusions, replicas' reductions) or other batches (bucketing)."""
        return (self.precision != "float32" or self.jit_compile or self.padding == "bucket"
                or self.distribute != "none")

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
    "bf16-bucket": PerfConfig(padding="bucket", precision="mixed_bfloat16"),
    "fp16-xla-bucket8": PerfConfig(padding="bucket", pad_multiple=8, jit_compile=True, precision="mixed_float16"),
    "mirrored": PerfConfig(distribute="mirrored"),
}

# The fastest variant measured on CPU (bench/test_performance.py::test_faster_than_the_course; on an AMD EPYC
# with AVX512_BF16, minilm-l6, batch 8, CPU time per step vs the course: bucket 0.80x, bf16-bucket 0.67x,
# xla-bucket8 slower than the course). Its quality is checked against the course's band in every tier.
BEST = "bf16-bucket"
ALIASES = {"best": BEST}


def variant(name: str) -> PerfConfig:
    """VARIANTS[name], or the variant an alias (`best`) stands for."""
    resolved = ALIASES.get(name, name)
    if resolved not in VARIANTS:
        raise FinetuneError(f"unknown --perf {name!r}: choose one of {', '.join([*VARIANTS, *ALIASES])}")
    return VARIANTS[resolved]


def check_global_batch(batch_size: int, strategy) -> None:
    """The global batch must split evenly over the replicas (see "Global batch" above)."""
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise FinetuneError(f"--batch-size {batch_size} is the global batch and must split evenly over "
                            f"{replicas} replicas: use a multiple of {replicas}")


def _cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def unsupported_precision(precision: str, device_kind: str) -> str | None:
    """Why `precision` cannot run usefully on `device_kind` ("cpu" or "gpu") here, or None when it can."""
    if precision == "mixed_float16" and device_kind != "gpu":
        return ("mixed_float16 needs a GPU: CPUs have no float16 matmul and TensorFlow would emulate it; "
                "on CPUs with AVX512_BF16 or AMX use mixed_bfloat16")
    if precision == "mixed_bfloat16" and device_kind == "cpu" and not _cpu_flags() & set(BF16_CPU_FLAGS):
        return ("mixed_bfloat16 on this CPU would be emulated (no AVX512_BF16 or AMX in /proc/cpuinfo flags): "
                "use float32")
    if precision == "mixed_bfloat16" and device_kind == "gpu":
        import tensorflow as tf

        capabilities = [tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
                        for gpu in tf.config.list_physical_devices("GPU")]
        if not capabilities or min(capabilities) < BF16_GPU_COMPUTE_CAPABILITY:
            return f"mixed_bfloat16 needs GPUs of compute capability 8.0 or newer (found {capabilities})"
    return None


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
